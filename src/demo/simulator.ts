/**
 * A real Modbus TCP server in-process (modbus-serial's ServerTCP) serving the simulated
 * station of station.ts, one device per unit id. Values follow the injected clock, so
 * tests read deterministic values with a ManualClock.
 *
 * ServerTCP cannot listen on port 0: with port 0 a free port is found by binding port 0
 * first, and a lost race (EADDRINUSE) is retried on another port.
 */
import { createServer } from 'node:net';
import { ServerTCP, type IServiceVector } from 'modbus-serial';
import { systemClock, type Clock } from '../core/clock.js';
import { silentLogger, type Logger } from '../core/ports.js';
import { DEMO_STATION, encodeTag, type DemoDevice } from './station.js';

/** What modbus-serial's server turns into an exception response: an error with `modbusErrorCode`. */
class ModbusException extends Error {
  constructor(
    readonly modbusErrorCode: number,
    readonly msg: string,
  ) {
    super(msg);
  }
}

export interface SimulatorOptions {
  readonly host?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly devices?: readonly DemoDevice[];
}

export interface SimulatedModbusServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Modbus exception codes thrown to ServerTCP as { modbusErrorCode }. */
const ILLEGAL_ADDRESS = 0x02;
const GATEWAY_TARGET_FAILED = 0x0b;

interface Image {
  readonly coil: Map<number, boolean>;
  readonly discrete: Map<number, boolean>;
  readonly holding: Map<number, number>;
  readonly input: Map<number, number>;
}

/** Register image of every device at one instant. */
class StationModel {
  private readonly byUnit = new Map<number, DemoDevice>();
  private cacheAt = Number.NaN;
  private cache = new Map<number, Image>();

  constructor(
    devices: readonly DemoDevice[],
    private readonly clock: Clock,
    private readonly startedAt: number,
  ) {
    for (const d of devices) this.byUnit.set(d.unitId, d);
  }

  image(unitId: number): Image {
    const now = this.clock.now();
    if (now !== this.cacheAt) {
      this.cache = new Map();
      this.cacheAt = now;
    }
    let image = this.cache.get(unitId);
    if (!image) {
      const device = this.byUnit.get(unitId);
      if (!device) throw new ModbusException(GATEWAY_TARGET_FAILED, `no device at unit ${unitId}`);
      image = build(device, (now - this.startedAt) / 1000);
      this.cache.set(unitId, image);
    }
    return image;
  }
}

function build(device: DemoDevice, t: number): Image {
  const image: Image = { coil: new Map(), discrete: new Map(), holding: new Map(), input: new Map() };
  for (const tag of device.tags) {
    const encoded = encodeTag(tag, tag.value(t));
    encoded.forEach((v, i) => {
      if (tag.function === 'coil' || tag.function === 'discrete')
        image[tag.function].set(tag.address + i, Boolean(v));
      else image[tag.function].set(tag.address + i, Number(v));
    });
  }
  return image;
}

function read<T>(area: Map<number, T>, addr: number): T {
  const value = area.get(addr);
  if (value === undefined) throw new ModbusException(ILLEGAL_ADDRESS, `address ${addr} not mapped`);
  return value;
}

function readMany(area: Map<number, number>, addr: number, length: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < length; i++) out.push(read(area, addr + i));
  return out;
}

export async function startSimulatedModbusServer(
  options: SimulatorOptions = {},
): Promise<SimulatedModbusServer> {
  const host = options.host ?? '127.0.0.1';
  const clock = options.clock ?? systemClock;
  const logger = (options.logger ?? silentLogger).child({ component: 'modbus-simulator' });
  const model = new StationModel(options.devices ?? DEMO_STATION, clock, clock.now());

  const vector: IServiceVector = {
    getCoil: (addr: number, unitId: number) => read(model.image(unitId).coil, addr),
    getDiscreteInput: (addr: number, unitId: number) => read(model.image(unitId).discrete, addr),
    getHoldingRegister: (addr: number, unitId: number) => read(model.image(unitId).holding, addr),
    getInputRegister: (addr: number, unitId: number) => read(model.image(unitId).input, addr),
    getMultipleHoldingRegisters: (addr: number, length: number, unitId: number) =>
      readMany(model.image(unitId).holding, addr, length),
    getMultipleInputRegisters: (addr: number, length: number, unitId: number) =>
      readMany(model.image(unitId).input, addr, length),
    // The simulated devices are read-only: writes are refused as illegal addresses.
    setCoil: () => {
      throw new ModbusException(ILLEGAL_ADDRESS, 'the simulated devices are read-only');
    },
    setRegister: () => {
      throw new ModbusException(ILLEGAL_ADDRESS, 'the simulated devices are read-only');
    },
  };

  const requested = options.port ?? 0;
  const attempts = requested === 0 ? 5 : 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = requested === 0 ? await freePort(host) : requested;
    try {
      const server = await listen(vector, host, port);
      server.on('error', (err: unknown) => logger.warn({ err }, 'modbus simulator request failed'));
      server.on('socketError', (err: unknown) => logger.debug({ err }, 'modbus simulator socket error'));
      logger.info(
        { host, port, devices: (options.devices ?? DEMO_STATION).map((d) => `${d.name}@${d.unitId}`) },
        'modbus simulator listening',
      );
      let closing: Promise<void> | undefined;
      return {
        host,
        port,
        close() {
          closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
          return closing;
        },
      };
    } catch (err) {
      lastError = err;
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || requested !== 0) break;
    }
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new Error(`modbus simulator cannot listen on ${host}:${requested || '(free port)'}: ${reason}`, {
    cause: lastError,
  });
}

function listen(vector: IServiceVector, host: string, port: number): Promise<ServerTCP> {
  return new Promise((resolve, reject) => {
    const server = new ServerTCP(vector, { host, port, unitID: 255 });
    const onError = (err: Error | null): void => {
      server.removeListener('initialized', onReady);
      // The listener failed: release what the constructor set up.
      server.close(() => undefined);
      reject(err ?? new Error('modbus simulator failed to listen'));
    };
    const onReady = (): void => {
      server.removeListener('serverError', onError);
      server.on('serverError', () => undefined);
      resolve(server);
    };
    server.once('serverError', onError);
    server.once('initialized', onReady);
  });
}

/** A free port on `host`, found by binding port 0 and closing again. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}
