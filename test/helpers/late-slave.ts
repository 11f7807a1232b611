/**
 * A real Modbus RTU slave (modbus-serial's ServerSerial) on one end of a pty pair whose
 * holding registers encode their own address, so a value read for the wrong register is
 * detectable, and which answers chosen requests late (after the client's timeout).
 */
import modbusSerial from 'modbus-serial';
import type { DeviceDriver } from '../../src/core/ports.js';
import { withCrc } from '../../src/drivers/modbus/rtu/crc.js';

/** The value of holding register `address` of unit `unit`: unique per (unit, address). */
export function registerValue(unit: number, address: number): number {
  return (unit * 4099 + address * 7 + 13) & 0xffff;
}

/**
 * A valid FC3 answer of `unit` to a one-register read holding register `address`'s value:
 * a stale answer that fits any one-register FC3 read of the unit.
 */
export function staleAnswer(unit: number, address: number): Buffer {
  const v = registerValue(unit, address);
  return Buffer.from(withCrc(Uint8Array.of(unit, 3, 2, v >> 8, v & 0xff)));
}

export interface LateSlave {
  /** Requests answered so far (late ones included once sent). */
  answered(): number;
  /** Requests answered late. */
  delayed(): number;
  close(): Promise<void>;
}

/**
 * `delayFor()` is asked once per request: 0 answers at once, n > 0 answers n ms later.
 * Like a real RTU slave (one request at a time on a half-duplex line), answers go out in
 * the order the requests came: a late answer holds back the answers of the requests
 * behind it. (modbus-serial's server would otherwise answer concurrently, reordering.)
 * Coils, discrete inputs and input registers it has none of: it refuses them with
 * exception 01 (illegal function), as the Modbus application protocol (§7) has a slave do.
 * modbus-serial's server, given no handler, says nothing at all — a slave no real meter
 * is, and one that made the order fence's other-function read (input registers) wait out
 * a whole timeout: the link-recovery case then failed or passed by how many fences the
 * silence had used up, i.e. by the host's load.
 */
export async function startLateSlave(
  path: string,
  baudRate: number,
  delayFor: () => number,
): Promise<LateSlave> {
  let answered = 0;
  let delayed = 0;
  let closed = false;
  const timers = new Set<NodeJS.Timeout>();
  /** The answers in order: each waits for the one before it. */
  let queue: Promise<void> = Promise.resolve();
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });
  const reply = <T>(value: T, cb: (err: Error | null, v: T) => void): void => {
    const ms = delayFor();
    if (ms > 0) delayed++;
    const due = performance.now() + ms;
    queue = queue.then(async () => {
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if (closed) return;
      answered++;
      cb(null, value);
    });
  };
  // modbus-serial answers an error carrying modbusErrorCode with that exception code
  const refuse = <T>(cb: (err: Error | null, v: T) => void): void => {
    queue = queue.then(() => {
      if (!closed) cb(Object.assign(new Error('illegal function'), { modbusErrorCode: 0x01 }), 0 as T);
    });
  };
  const values = (unit: number, address: number, length: number): number[] =>
    Array.from({ length }, (_, i) => registerValue(unit, address + i));
  const vector = {
    getHoldingRegister: (address: number, unit: number, cb: (err: Error | null, v: number) => void) =>
      reply(registerValue(unit, address), cb),
    getMultipleHoldingRegisters: (
      address: number,
      length: number,
      unit: number,
      cb: (err: Error | null, v: number[]) => void,
    ) => reply(values(unit, address, length), cb),
    getCoil: (_address: number, _unit: number, cb: (err: Error | null, v: boolean) => void) => refuse(cb),
    getDiscreteInput: (_address: number, _unit: number, cb: (err: Error | null, v: boolean) => void) =>
      refuse(cb),
    getInputRegister: (_address: number, _unit: number, cb: (err: Error | null, v: number) => void) =>
      refuse(cb),
    getMultipleInputRegisters: (
      _address: number,
      _length: number,
      _unit: number,
      cb: (err: Error | null, v: number[]) => void,
    ) => refuse(cb),
  };
  const server = await new Promise<InstanceType<typeof modbusSerial.ServerSerial>>((resolve, reject) => {
    const s = new modbusSerial.ServerSerial(vector, {
      path,
      baudRate,
      interval: 5,
      openCallback: (err?: Error | null) => (err ? reject(err) : resolve(s)),
    } as never);
  });
  return {
    answered: () => answered,
    delayed: () => delayed,
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
      }),
  };
}

/** The late-answer checks' shape, the same over RTU and through a DTU. */
export const LATE_ANSWER = { baud: 38400, timeoutMs: 150, addresses: [0, 10, 20, 30], polls: 40 } as const;

/** A Modbus device config reading one register (FC3) per address of unit 3 through `connection`. */
export function lateAnswerDevice(
  connection: Record<string, unknown>,
  addresses: readonly number[],
  timeoutMs: number,
): Record<string, unknown> {
  return {
    name: 'meter',
    driver: 'modbus',
    connection,
    unitId: 3,
    timeoutMs,
    breaker: { failureThreshold: 1000 },
    tags: addresses.map((address) => ({ name: `r${address}`, function: 'holding', address })),
  };
}

export interface LateAnswerTally {
  good: number;
  /** Good values that do not match the register read: the defect these tests hunt. */
  wrong: number;
  /** Bad values by code. */
  codes: Record<string, number>;
  /** The line's own count of late answers. */
  lateAnswers: number | undefined;
}

/** Polls the `lateAnswerDevice` registers `polls` times and checks every good value against its register. */
export async function tallyLateAnswerPolls(
  device: Pick<DeviceDriver, 'poll' | 'status'>,
  addresses: readonly number[],
  polls: number,
): Promise<LateAnswerTally> {
  const names = addresses.map((a) => `r${a}`);
  const tally: LateAnswerTally = { good: 0, wrong: 0, codes: {}, lateAnswers: undefined };
  for (let i = 0; i < polls; i++) {
    const values = await device.poll(names);
    values.forEach((v, k) => {
      if (v.quality === 'bad') {
        tally.codes[v.code] = (tally.codes[v.code] ?? 0) + 1;
        return;
      }
      tally.good++;
      if (v.value !== registerValue(3, addresses[k] ?? -1)) tally.wrong++;
    });
  }
  tally.lateAnswers = (device.status() as { line: { lateAnswers?: number } }).line.lateAnswers;
  return tally;
}

export interface LoopBlocker {
  /** Stalls so far and their total time (ms). */
  readonly stalls: () => { count: number; ms: number };
  stop(): void;
}

/**
 * Makes timing unreliable the way a loaded host does: after a random gap of `minGapMs` to
 * `maxGapMs` the event loop is busy for a random `minMs` to `maxMs` (timers and data events
 * queue up meanwhile, and due timers then run before the data that came during the
 * stall). No sleep: it blocks, then schedules the next stall.
 */
export function blockEventLoop(
  random: () => number,
  {
    minGapMs = 30,
    maxGapMs = 150,
    minMs = 10,
    maxMs = 160,
  }: { minGapMs?: number; maxGapMs?: number; minMs?: number; maxMs?: number } = {},
): LoopBlocker {
  let count = 0;
  let total = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo));
  const stall = (): void => {
    const ms = draw(minMs, maxMs);
    const end = performance.now() + ms;
    while (performance.now() < end) {
      // busy: the stall is the point
    }
    count++;
    total += ms;
    timer = setTimeout(stall, draw(minGapMs, maxGapMs));
  };
  timer = setTimeout(stall, draw(minGapMs, maxGapMs));
  return { stalls: () => ({ count, ms: total }), stop: () => clearTimeout(timer) };
}
