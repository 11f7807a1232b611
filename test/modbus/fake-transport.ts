/** An in-memory ModbusTransport driven by a ManualClock, one per test. */
import type { Clock } from '../../src/core/clock.js';
import { EdgeError } from '../../src/core/errors.js';
import type { ModbusTransport } from '../../src/drivers/modbus/port.js';

export interface FakeSlave {
  holding?: Record<number, number>;
  input?: Record<number, number>;
  coil?: Record<number, boolean>;
  discrete?: Record<number, boolean>;
  /** Never answers: each request times out after its timeoutMs on the clock. */
  dead?: boolean;
  /** Answers every request with this exception code. */
  exception?: number;
  /** Requests reaching this address or above answer exception 02. */
  illegalFrom?: number;
  /** Unmapped addresses: any read covering one answers exception 02. */
  holes?: number[];
  /** Answers after this many ms of clock time (default 1). */
  latencyMs?: number;
  /**
   * Answer delays of the next requests, in order (then `latencyMs`); a negative delay: the
   * slave never answers that request. Modelled like RTU, which has no transaction id: an
   * answer arriving while a request of the same unit, function and length waits is taken
   * as its answer, whichever request it belonged to; one arriving while nothing waits
   * reaches the line as stray bytes. The slave answers in order: an answer never
   * overtakes the late answer of an earlier request.
   */
  delays?: number[];
}

export interface SentRequest {
  readonly unitId: number;
  readonly fn: string;
  readonly address: number;
  readonly length: number;
  readonly at: number;
}

export class FakeTransport implements ModbusTransport {
  readonly sent: SentRequest[] = [];
  readonly slaves = new Map<number, FakeSlave>();
  connectAttempts: number[] = [];
  failConnects = 0;
  discards = 0;
  private open = false;
  private inFlight = 0;
  maxInFlight = 0;
  private readonly listeners: Array<(err?: Error) => void> = [];
  private readonly rxListeners: Array<(bytes: number, awaited?: boolean) => void> = [];
  private readonly linkUpListeners: Array<() => void> = [];
  /** DTU-like link state (`linkDownError`): reads fail at once with EDGE_ERR_DTU_LINK_DOWN while false. */
  dtuLinkUp = true;

  constructor(private readonly clock: Clock) {}

  get isOpen(): boolean {
    return this.open;
  }

  onClose(listener: (err?: Error) => void): void {
    this.listeners.push(listener);
  }

  async connect(): Promise<void> {
    this.connectAttempts.push(this.clock.monotonic());
    if (this.failConnects > 0) {
      this.failConnects--;
      throw new EdgeError('EDGE_ERR_MODBUS_CONNECT', 'connect ECONNREFUSED');
    }
    this.open = true;
  }

  async close(): Promise<void> {
    this.open = false;
  }

  /** The peer drops the link. */
  drop(): void {
    if (!this.open) return;
    this.open = false;
    for (const l of this.listeners) l(new Error('peer closed'));
  }

  onRx(listener: (bytes: number, awaited?: boolean) => void): void {
    this.rxListeners.push(listener);
  }

  linkDownError(): EdgeError | undefined {
    return this.dtuLinkUp ? undefined : new EdgeError('EDGE_ERR_DTU_LINK_DOWN', 'DTU link fake is down');
  }

  onLinkUp(listener: () => void): void {
    this.linkUpListeners.push(listener);
  }

  /** The DTU link goes down / comes up (registration). */
  setDtuLink(up: boolean): void {
    this.dtuLinkUp = up;
    if (up) for (const l of this.linkUpListeners) l();
  }

  /** Bytes arrive on the link; `awaited`: a request waited for them. */
  receive(bytes: number, awaited?: boolean): void {
    for (const l of this.rxListeners) l(bytes, awaited);
  }

  discardInput(): number | undefined {
    this.discards++;
    return undefined;
  }

  readCoils(u: number, a: number, l: number, t: number): Promise<boolean[]> {
    return this.read(u, 'coil', a, l, t, (s, i) => s.coil?.[i] ?? false);
  }

  readDiscreteInputs(u: number, a: number, l: number, t: number): Promise<boolean[]> {
    return this.read(u, 'discrete', a, l, t, (s, i) => s.discrete?.[i] ?? false);
  }

  readHolding(u: number, a: number, l: number, t: number): Promise<number[]> {
    return this.read(u, 'holding', a, l, t, (s, i) => s.holding?.[i] ?? 0);
  }

  readInput(u: number, a: number, l: number, t: number): Promise<number[]> {
    return this.read(u, 'input', a, l, t, (s, i) => s.input?.[i] ?? 0);
  }

  private read<T>(
    unitId: number,
    fn: string,
    address: number,
    length: number,
    timeoutMs: number,
    get: (s: FakeSlave, i: number) => T,
  ): Promise<T[]> {
    if (!this.open)
      return Promise.reject(Object.assign(new Error('Port Not Open'), { errno: 'ECONNREFUSED' }));
    const down = this.linkDownError();
    if (down) return Promise.reject(down);
    this.sent.push({ unitId, fn, address, length, at: this.clock.monotonic() });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const slave = this.slaves.get(unitId);
    return new Promise<T[]>((resolve, reject) => {
      const finish = (fn2: () => void): void => {
        this.inFlight--;
        fn2();
      };
      if (slave?.delays) {
        this.rtuExchange(slave, { unitId, fn, address, length }, timeoutMs, get, resolve, reject, finish);
        return;
      }
      if (!slave || slave.dead) {
        this.clock.setTimeout(
          () => finish(() => reject(Object.assign(new Error('Timed out'), { errno: 'ETIMEDOUT' }))),
          timeoutMs,
        );
        return;
      }
      this.clock.setTimeout(() => {
        const exception =
          slave.exception ??
          (slave.illegalFrom !== undefined && address + length > slave.illegalFrom ? 2 : undefined) ??
          (slave.holes?.some((h) => h >= address && h < address + length) ? 2 : undefined);
        if (exception !== undefined) {
          const code = exception;
          finish(() => reject(Object.assign(new Error(`Modbus exception ${code}`), { modbusCode: code })));
          return;
        }
        finish(() => resolve(Array.from({ length }, (_, i) => get(slave, address + i))));
      }, slave.latencyMs ?? 1);
    });
  }

  private waiting: { key: string; resolve: (data: unknown[]) => void; settled: boolean } | undefined;

  private rtuExchange<T>(
    slave: FakeSlave,
    req: { unitId: number; fn: string; address: number; length: number },
    timeoutMs: number,
    get: (s: FakeSlave, i: number) => T,
    resolve: (v: T[]) => void,
    reject: (e: Error) => void,
    finish: (f: () => void) => void,
  ): void {
    const key = `${req.unitId}/${req.fn}/${req.length}`;
    const data = Array.from({ length: req.length }, (_, i) => get(slave, req.address + i));
    const waiting = {
      key,
      settled: false,
      resolve: (d: unknown[]) => finish(() => resolve(d as T[])),
    };
    this.waiting = waiting;
    this.clock.setTimeout(() => {
      if (waiting.settled) return;
      waiting.settled = true;
      if (this.waiting === waiting) this.waiting = undefined;
      finish(() => reject(Object.assign(new Error('Timed out'), { errno: 'ETIMEDOUT' })));
    }, timeoutMs);
    const answerIn = slave.delays?.shift() ?? slave.latencyMs ?? 1;
    if (answerIn < 0) return;
    const now = this.clock.monotonic();
    const at = Math.max(now + answerIn, (this.answeredAt.get(slave) ?? -Infinity) + 1);
    this.answeredAt.set(slave, at);
    this.clock.setTimeout(() => {
      const w = this.waiting;
      if (w && !w.settled && w.key === key) {
        w.settled = true;
        this.waiting = undefined;
        this.receive(3 + 2 * req.length + 2, true);
        w.resolve(data);
      } else this.receive(3 + 2 * req.length + 2, false);
    }, at - now);
  }

  /** When each slave's last answer is due (answers go out in order). */
  private readonly answeredAt = new Map<FakeSlave, number>();
}

/** A transport factory handing out FakeTransports with these slaves (each pushed to `made`). */
export function fakeTransports(
  clock: Clock,
  slaves: Readonly<Record<number, FakeSlave>>,
  made: FakeTransport[] = [],
): () => FakeTransport {
  return () => {
    const t = new FakeTransport(clock);
    for (const [id, s] of Object.entries(slaves)) t.slaves.set(Number(id), s);
    made.push(t);
    return t;
  };
}
