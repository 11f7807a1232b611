/** The family: one agent's Modbus devices, the lines they share and the DTU hub (`dtu` section). */
import { EdgeError } from '../../core/errors.js';
import type { DeviceDriver } from '../../core/ports.js';
import type { DriverDeps, DriverFamily } from '../types.js';
import type { ModbusDeviceConfig } from './config.js';
import { ModbusDevice } from './device.js';
import type { DtuConfig, DtuLinkConfig } from './dtu/config.js';
import type { DtuHub, DtuServerStatus, DtuStatus } from './dtu/hub.js';
import { Line } from './line.js';
import { lineKey, type ModbusConnection, type ModbusTransport, type TransportFactory } from './port.js';
import { defaultTransportFactory } from './transport-factory.js';

/** Hands out the transport of a named DTU link (the family's DtuHub, or a test's fake). */
export interface DtuTransportSource {
  transport(name: string): ModbusTransport;
}

export interface ModbusFamilyOptions {
  /** Builds the transport of a new line; tests pass a fake. */
  readonly transportFactory?: TransportFactory;
  /** The hub of the `dtu` section's links (the definition loads it only with a section): the family starts and stops it. */
  readonly hub?: DtuHub;
  /** Transports of DTU links (`transport: dtu`) from elsewhere (tests); default: the family's hub. */
  readonly dtu?: DtuTransportSource;
}

/** What the Modbus family adds to the metrics snapshot (the DTU metrics read it). */
export interface ModbusStats {
  /** Late answers discarded per line key (RTU and DTU lines; cumulative). */
  readonly lateAnswers: Readonly<Record<string, number>>;
  /** Bytes found on a fresh line or link before its first request, discarded, per line key. */
  readonly staleBytes: Readonly<Record<string, number>>;
  /** Fence reads sent (a unit's answer order was in doubt), per line key. */
  readonly fences: Readonly<Record<string, number>>;
  readonly dtus: Readonly<Record<string, DtuStatus>>;
  readonly dtuUnknownRegistrations: number;
}

// lineKey lives in port.ts, so the definition's warnings use it without loading the family
export { lineKey } from './port.js';

type RtuConnection = Extract<ModbusConnection, { transport: 'rtu' }>;

/** Bits on the wire per character: start + data + parity + stop. */
function bitsPerChar(c: RtuConnection): number {
  return 1 + c.dataBits + (c.parity === 'none' ? 0 : 1) + c.stopBits;
}

/** Inter-frame gap: configured, else 3.5 character times, at least 2 ms. TCP: 0. */
export function interFrameGapMs(connection: ModbusConnection): number {
  if (connection.transport === 'tcp') return 0;
  if (connection.transport === 'dtu') return connection.interFrameGapMs;
  if (connection.interFrameGapMs !== undefined) return connection.interFrameGapMs;
  return Math.max(2, (3.5 * bitsPerChar(connection) * 1000) / connection.baudRate);
}

const SERIAL_FIELDS = [
  'baudRate',
  'dataBits',
  'parity',
  'stopBits',
  'interFrameGapMs',
  'echoSuppression',
] as const;

interface LineEntry {
  readonly line: Line;
  readonly connection: ModbusConnection;
  readonly owner: string;
}

export class ModbusFamily implements DriverFamily<ModbusDeviceConfig> {
  private readonly lineMap = new Map<string, LineEntry>();
  private readonly devices = new Set<ModbusDevice>();
  private readonly transportFactory: TransportFactory;
  private readonly dtu: DtuTransportSource | undefined;
  /** The DTU hub of the `dtu` section (absent without one). */
  readonly hub: DtuHub | undefined;
  private clientSeq = 0;
  private closed = false;

  constructor(
    private readonly deps: DriverDeps,
    options: ModbusFamilyOptions = {},
  ) {
    this.transportFactory = options.transportFactory ?? defaultTransportFactory;
    this.hub = options.hub;
    this.dtu = options.dtu ?? this.hub;
  }

  /** Opens the DTU listener and dials the client links (before any device starts). */
  async start(): Promise<void> {
    await this.hub?.start();
  }

  create(config: ModbusDeviceConfig): ModbusDevice {
    if (this.closed)
      throw new EdgeError('EDGE_ERR_CONFIG_INVALID', 'modbus family is closed', {
        context: { device: config.name },
      });
    const device = new ModbusDevice(config, {
      clock: this.deps.clock,
      logger: this.deps.logger,
      random: this.deps.random,
      attach: (d) => this.attach(d),
      nextClientId: () => ++this.clientSeq,
    });
    this.devices.add(device);
    return device;
  }

  /** The lines, by key (for status and tests). */
  lines(): ReadonlyMap<string, Line> {
    return new Map([...this.lineMap].map(([k, v]) => [k, v.line]));
  }

  /** Stops one device; its line closes (and may be re-created with other settings) once no device uses it. */
  async remove(driver: DeviceDriver): Promise<void> {
    const device = [...this.devices].find((d) => d === driver);
    if (!device) return;
    await device.stop().catch(() => undefined);
    this.devices.delete(device);
    const key = lineKey(device.config.connection);
    const entry = this.lineMap.get(key);
    if (!entry || [...this.devices].some((d) => lineKey(d.config.connection) === key)) return;
    this.lineMap.delete(key);
    await entry.line.close();
  }

  /**
   * Hot reload of one DTU link (a parsed `dtu.links[]` entry): the hub replaces or adds it
   * alone. The reload removes the link's devices first and creates them anew after, so no
   * line still holds the old link's transport.
   */
  async upsertLink(link: unknown): Promise<void> {
    const config = link as DtuLinkConfig;
    this.checkLinkUnused(config.name);
    await this.requireHub().upsertLink(config);
  }

  /** Hot reload of the `dtu` section's listener (dtu.server); the links keep their sockets. */
  async reconfigureSection(section: unknown): Promise<void> {
    await this.requireHub().replaceServer((section as DtuConfig).server);
  }

  /** Hot reload: the hub forgets one DTU link (its devices were removed first). */
  removeLink(name: string): Promise<void> {
    this.checkLinkUnused(name);
    this.requireHub().removeLink(name);
    return Promise.resolve();
  }

  private requireHub(): DtuHub {
    if (!this.hub)
      throw new EdgeError('EDGE_ERR_CONFIG_INVALID', 'no DTU hub (dtu section) to reload: restart', {
        context: { field: 'dtu' },
      });
    return this.hub;
  }

  /** A line still on the link would keep reading through the old link's (closed) transport. */
  private checkLinkUnused(name: string): void {
    if (this.lineMap.has(`dtu:${name}`))
      throw new EdgeError(
        'EDGE_ERR_CONFIG_INVALID',
        `DTU link "${name}" still has devices: remove them first`,
        {
          context: { field: 'dtu.links', dtu: name },
        },
      );
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.devices].map((d) => d.stop().catch(() => undefined)));
    await Promise.all([...this.lineMap.values()].map((e) => e.line.close()));
    this.lineMap.clear();
    this.devices.clear();
    await this.hub?.stop();
  }

  /** `/status.json`'s `dtu` part: the listener and the links (null without a `dtu` section). */
  status(): { readonly dtu: { server: DtuServerStatus; links: Record<string, DtuStatus> } | null } {
    return { dtu: this.hub ? { server: this.hub.serverStatus(), links: this.hub.status() } : null };
  }

  stats(): ModbusStats {
    const lines = [...this.lineMap].map(([key, { line }]) => [key, line.status()] as const);
    const perLine = (pick: (s: (typeof lines)[number][1]) => number): Record<string, number> =>
      Object.fromEntries(lines.map(([key, s]) => [key, pick(s)]));
    return {
      lateAnswers: perLine((s) => s.lateAnswers),
      staleBytes: perLine((s) => s.staleBytes),
      fences: perLine((s) => s.fences),
      dtus: this.hub?.status() ?? {},
      dtuUnknownRegistrations: this.hub?.serverStatus().unknownRegistrations ?? 0,
    };
  }

  private attach(device: ModbusDevice): Line {
    const connection = device.config.connection;
    const key = lineKey(connection);
    const existing = this.lineMap.get(key);
    if (existing) {
      if (existing.connection.transport === 'rtu' && connection.transport === 'rtu') {
        for (const field of SERIAL_FIELDS) {
          if (existing.connection[field] !== connection[field]) {
            throw new EdgeError(
              'EDGE_ERR_CONFIG_INVALID',
              `device ${device.device}: connection.${field} is ${String(connection[field])} but device ${existing.owner} ` +
                `on the same serial path ${connection.path} uses ${String(existing.connection[field])}`,
              { context: { device: device.device, field: `connection.${field}`, path: connection.path } },
            );
          }
        }
      }
      return existing.line;
    }
    let transport;
    if (connection.transport === 'dtu') {
      if (!this.dtu) {
        throw new EdgeError(
          'EDGE_ERR_CONFIG_INVALID',
          `device ${device.device}: connection.dtu "${connection.dtu}" but the agent has no DTU hub (dtu section)`,
          {
            context: { device: device.device, field: 'connection.dtu' },
          },
        );
      }
      transport = this.dtu.transport(connection.dtu);
    } else transport = this.transportFactory(connection, this.deps.clock);
    const line = new Line({
      key,
      // a DTU link carries RTU frames: quiet horizon after a timeout, late answers discarded
      kind: connection.transport === 'tcp' ? 'tcp' : 'rtu',
      gapMs: interFrameGapMs(connection),
      backoff: device.config.reconnect,
      clock: this.deps.clock,
      random: this.deps.random,
      logger: this.deps.logger.child({ line: key }),
      transport,
    });
    this.lineMap.set(key, { line, connection, owner: device.device });
    return line;
  }
}

export function createModbusFamily(deps: DriverDeps, options: ModbusFamilyOptions = {}): ModbusFamily {
  return new ModbusFamily(deps, options);
}
