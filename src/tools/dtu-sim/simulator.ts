/**
 * DTU simulator: a serial-to-TCP unit as found in the field, for tests and field engineers.
 *
 * Dial mode (`agent`): connects to the agent, sends the registration packet, then bridges
 * bytes between the TCP socket and a serial port, sending heartbeat packets at its own
 * interval. Re-dials (and re-registers) after `reconnectDelayMs` when the link drops.
 * Listen mode (`listen`): accepts one agent connection at a time (a new one replaces the
 * old one); registration is optional; heartbeats and bridging are the same.
 *
 * Responses read from the serial port are framed (Modbus RTU length + CRC, or a quiet
 * gap) and pass through the fault stage (fault-stage.ts, faults.ts) on their way to the agent.
 * The serial port is opened by serial-port.ts, the fault stage's waits are sleeps.ts.
 */
import { EventEmitter } from 'node:events';
import { systemClock, type Clock, type TimerHandle } from '../../core/clock.js';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SerialPort } from 'serialport';
import { toBytes } from './bytes.js';
import { FaultStage, type Conn } from './fault-stage.js';
import type { DtuFaults } from './faults.js';
import { seededRandom, type Random } from './prng.js';
import { RtuResponseFramer } from './rtu-framer.js';
import { openSerial } from './serial-port.js';
import { Sleeps } from './sleeps.js';
import { SimUdp } from './udp.js';
import { emptyStats, type DtuSimulator, type DtuSimulatorOptions, type DtuSimulatorStats } from './types.js';

export type {
  ByteSpec,
  DtuSimulator,
  DtuSimulatorOptions,
  DtuSimulatorStats,
  SerialOptions,
} from './types.js';

class Simulator extends EventEmitter implements DtuSimulator {
  readonly seed: number;
  private readonly random: Random;
  private readonly registration: Buffer;
  private readonly heartbeat: Buffer;
  private readonly heartbeatIntervalMs: number;
  private readonly reconnectDelayMs: number;
  private readonly framer: RtuResponseFramer;
  private readonly counters = emptyStats();
  private currentFaults: DtuFaults;
  private responseIndex = 0;
  private conn: Conn | undefined;
  private dialing: Socket | undefined;
  private reconnectTimer: TimerHandle | undefined;
  private readonly clock: Clock;
  private server: Server | undefined;
  private serial!: Duplex;
  private ownsSerial = false;
  private queue: Promise<void> = Promise.resolve();
  private closing = false;
  private readonly sleeps: Sleeps;
  private readonly stage: FaultStage;
  private readonly udp: SimUdp | undefined;

  private readonly onSerialData = (chunk: Buffer): void => {
    if (this.closing) return;
    this.counters.bytesFromSerial += chunk.length;
    this.framer.push(chunk);
  };

  constructor(private readonly options: DtuSimulatorOptions) {
    super();
    if (!!options.agent === !!options.listen)
      throw new Error('DTU simulator: give exactly one of `agent` (dial mode) or `listen`');
    this.clock = options.clock ?? systemClock;
    this.sleeps = new Sleeps(this.clock);
    this.seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
    this.random = seededRandom(this.seed);
    this.registration = toBytes(options.registration, options.agent ? 'ascii:DTU-0001' : 'none');
    this.heartbeat = toBytes(options.heartbeat, 'ascii:HB');
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 30_000;
    this.reconnectDelayMs = options.reconnectDelayMs ?? 1000;
    this.currentFaults = { ...(options.faults ?? {}) };
    this.stage = new FaultStage({
      random: this.random,
      heartbeat: this.heartbeat,
      clock: this.clock,
      counters: this.counters,
      current: () => this.currentFaults,
      closing: () => this.closing,
      write: (conn, bytes) => this.write(conn, bytes),
      sleep: (ms) => this.sleeps.sleep(ms),
      log: (level, message) => this.log(level, message),
    });
    this.udp = options.udp
      ? new SimUdp({
          attach: (sock) => this.attach(sock),
          closing: () => this.closing,
          clock: this.clock,
          rebindEveryMs: options.rebindEveryMs ?? 0,
          log: (level, message) => this.log(level, message),
        })
      : undefined;
    this.framer = new RtuResponseFramer((frame, parsed) => this.onSerialFrame(frame, parsed), {
      mode: options.framing ?? 'rtu',
      gapMs: options.frameGapMs ?? 5,
    });
  }

  async start(): Promise<void> {
    const s = this.options.serial;
    if ('stream' in s) {
      this.serial = s.stream;
    } else {
      this.serial = await openSerial(s);
      this.ownsSerial = true;
    }
    this.serial.on('data', this.onSerialData);
    this.serial.on('error', (err: Error) => {
      this.log('warn', `serial error: ${err.message}`);
      this.emit('serial-error', err);
    });
    this.serial.on('close', () => {
      if (!this.closing) this.log('warn', 'serial port closed');
      this.emit('serial-close');
    });
    if (this.options.agent) {
      this.dial();
    } else if (this.udp) {
      await this.udp.listen(this.options.listen!);
    } else {
      const { port, host } = this.options.listen!;
      const server = createServer((sock) => this.accept(sock));
      this.server = server;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host ?? '0.0.0.0', () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => this.log('warn', `listener error: ${err.message}`));
      this.log('info', `listening on ${host ?? '0.0.0.0'}:${(server.address() as AddressInfo).port}`);
    }
  }

  // ---- public API -------------------------------------------------------------------

  stats(): DtuSimulatorStats {
    return {
      ...this.counters,
      faults: { ...this.counters.faults },
      connected: !!this.conn && !this.conn.closed,
    };
  }

  faults(): DtuFaults {
    return { ...this.currentFaults };
  }

  setFaults(faults: DtuFaults): void {
    const wasSilent = !!this.currentFaults.silent;
    this.currentFaults = { ...faults };
    this.responseIndex = 0;
    if (wasSilent !== !!faults.silent) this.log('info', faults.silent ? 'silent: on' : 'silent: off');
  }

  address(): AddressInfo | undefined {
    const a = this.udp ? this.udp.address() : this.server?.address();
    return a && typeof a === 'object' ? a : undefined;
  }

  redial(): Promise<void> {
    if (this.closing) return Promise.reject(new Error('DTU simulator is closed'));
    if (!this.options.agent) {
      const c = this.conn;
      if (!c || c.closed) return Promise.resolve();
      return new Promise((resolve) => {
        c.sock.once('close', () => resolve());
        c.sock.destroy();
      });
    }
    const connected = new Promise<void>((resolve, reject) => {
      const onConnect = (): void => {
        this.off('closed', onClosed);
        resolve();
      };
      const onClosed = (): void => {
        this.off('connect', onConnect);
        reject(new Error('DTU simulator closed while re-dialling'));
      };
      this.once('connect', onConnect);
      this.once('closed', onClosed);
    });
    if (this.conn && !this.conn.closed) {
      this.conn.redialNow = true;
      this.conn.sock.destroy();
    } else if (!this.dialing) {
      this.reconnectTimer?.cancel();
      this.reconnectTimer = undefined;
      this.dial();
    } // else a dial is in flight: its 'connect' resolves us
    return connected;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.reconnectTimer?.cancel();
    this.sleeps.wakeAll();
    this.framer.dispose();
    this.serial?.off('data', this.onSerialData);
    this.dialing?.destroy();
    const waits: Promise<void>[] = [];
    if (this.conn && !this.conn.closed) {
      const c = this.conn;
      waits.push(new Promise((resolve) => c.sock.once('close', () => resolve())));
      c.sock.destroy();
    }
    if (this.server) {
      const server = this.server;
      waits.push(new Promise((resolve) => server.close(() => resolve())));
    }
    if (this.ownsSerial) {
      const port = this.serial as SerialPort;
      if (port.isOpen) waits.push(new Promise((resolve) => port.close(() => resolve())));
    }
    if (this.udp) waits.push(this.udp.close());
    await Promise.all(waits);
    await this.queue.catch(() => undefined);
    this.emit('closed');
  }

  // ---- TCP side ---------------------------------------------------------------------

  private dial(): void {
    if (this.closing) return;
    if (this.udp) return this.udp.dial(this.options.agent!);
    const { host, port } = this.options.agent!;
    const sock = connect({ host, port });
    this.dialing = sock;
    let established = false;
    sock.once('connect', () => {
      this.dialing = undefined;
      established = true;
      this.attach(sock);
    });
    sock.on('error', (err) => {
      if (!established) this.log('debug', `dial ${host}:${port} failed: ${err.message}`);
      else this.log('warn', `link error: ${err.message}`);
    });
    sock.once('close', () => {
      if (!established) {
        this.dialing = undefined;
        this.counters.dialFailures++;
        this.scheduleDial(this.reconnectDelayMs);
      }
    });
  }

  private scheduleDial(delayMs: number): void {
    if (this.closing || this.reconnectTimer) return;
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      this.dial();
    }, delayMs);
  }

  private accept(sock: Socket): void {
    if (this.closing) {
      sock.destroy();
      return;
    }
    if (this.conn && !this.conn.closed) {
      this.log(
        'info',
        `new agent connection from ${sock.remoteAddress}:${sock.remotePort} replaces ${this.conn.remote}`,
      );
      this.conn.sock.destroy();
    }
    this.attach(sock);
  }

  private attach(sock: Socket): void {
    sock.setNoDelay(true);
    sock.setKeepAlive(true, 10_000);
    const remote = `${sock.remoteAddress}:${sock.remotePort}`;
    const conn: Conn = { sock, remote, closed: false };
    this.conn = conn;
    this.counters.connects++;
    this.log('info', `connected to ${remote}`);
    sock.on('data', (data: Buffer) => {
      this.counters.bytesFromAgent += data.length;
      if (this.conn !== conn) return;
      this.counters.bytesToSerial += data.length;
      this.serial.write(data);
    });
    sock.once('close', () => this.detach(conn));
    if (this.registration.length > 0 && !this.currentFaults.silent) {
      this.write(conn, this.registration);
      this.counters.registrationsSent++;
    }
    if (this.heartbeat.length > 0 && this.heartbeatIntervalMs > 0) {
      const every = this.heartbeatIntervalMs;
      const arm = (): void => {
        conn.heartbeatTimer = this.clock.setTimeout(() => {
          this.tickHeartbeat(conn);
          if (!conn.closed) arm();
        }, every);
      };
      arm();
    }
    this.emit('connect', remote);
  }

  private detach(conn: Conn): void {
    if (conn.closed) return;
    conn.closed = true;
    conn.heartbeatTimer?.cancel();
    conn.holdTimer?.cancel();
    if (conn.held) this.counters.framesDiscarded++;
    conn.held = undefined;
    this.counters.disconnects++;
    this.log('info', `disconnected from ${conn.remote}`);
    if (this.conn === conn) this.conn = undefined;
    this.emit('disconnect', conn.remote);
    if (this.options.agent && !this.closing) this.scheduleDial(conn.redialNow ? 0 : this.reconnectDelayMs);
  }

  private write(conn: Conn, bytes: Buffer): void {
    if (conn.closed || conn.sock.destroyed || !conn.sock.writable) return;
    this.counters.bytesToAgent += bytes.length;
    conn.sock.write(bytes);
  }

  private tickHeartbeat(conn: Conn): void {
    if (conn.closed || this.currentFaults.silent) return;
    if (conn.held) {
      // glue fault: the held response goes out in the same write as this heartbeat
      const held = conn.held;
      conn.held = undefined;
      conn.holdTimer?.cancel();
      conn.holdTimer = undefined;
      this.write(conn, Buffer.concat([held, this.heartbeat]));
      this.counters.framesForwarded++;
    } else {
      // UDP DTUs that identify each heartbeat put their registration in front of it.
      const reg = this.options.registrationWithHeartbeat ? this.registration : Buffer.alloc(0);
      this.write(conn, Buffer.concat([reg, this.heartbeat]));
    }
    this.counters.heartbeatsSent++;
  }

  // ---- serial → agent, through the faults -------------------------------------------

  private onSerialFrame(frame: Buffer, parsed: boolean): void {
    this.counters.framesFromSerial++;
    if (!parsed) this.counters.framesByGap++;
    this.emit('frame', frame, parsed);
    const conn = this.conn;
    if (!conn || conn.closed) {
      this.counters.framesDiscarded++;
      return;
    }
    const index = ++this.responseIndex;
    this.queue = this.queue
      .then(() => this.stage.forward(conn, frame, index))
      .catch((err: Error) => this.log('warn', `forward failed: ${err.message}`));
  }

  private log(level: 'info' | 'warn' | 'debug', message: string): void {
    this.options.log?.(level, message);
  }
}

/** Opens the serial side, starts dialling (or listening) and returns the running simulator. */
export async function startDtuSimulator(options: DtuSimulatorOptions): Promise<DtuSimulator> {
  const sim = new Simulator(options);
  try {
    await sim.start();
  } catch (err) {
    await sim.close().catch(() => undefined);
    throw err;
  }
  return sim;
}
