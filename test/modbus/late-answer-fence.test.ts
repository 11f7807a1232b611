/**
 * The order fence (fence.ts) on a manual clock, with the agent's own RTU framer
 * (RtuStreamTransport, as on a DTU link) and a scripted slave that answers in order.
 * The event loop is modelled as Node runs it: when a stall ends, due timers fire before
 * the data that arrived meanwhile is processed — what made the timing guard accept a
 * late answer as good on a loaded host (`late-answer-never-a-good-value-dtu`, 5 wrong
 * values at load 30).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { UnitFences, MAX_UNACCOUNTED, requestShape } from '../../src/drivers/modbus/fence.js';
import type { Line, LineResult } from '../../src/drivers/modbus/line.js';
import type { LineRead, LineWrite } from '../../src/drivers/modbus/port.js';
import { withCrc } from '../../src/drivers/modbus/rtu/crc.js';
import { RtuStreamTransport } from '../../src/drivers/modbus/rtu/stream-transport.js';
import { testLine } from './scripted-line.js';

const TIMEOUT = 100;
const ADDRESSES = [0, 10, 20, 30];

/** Holding register `a` of the scripted slave holds 1000 + a (input registers 5000 + a). */
const holding = (a: number): number => 1000 + a;

function answer(req: Buffer): Buffer {
  const [unit, fn] = [req[0]!, req[1]!];
  const address = req.readUInt16BE(2);
  const count = req.readUInt16BE(4);
  if (fn <= 2)
    return withCrc(
      Uint8Array.of(unit, fn, Math.ceil(count / 8), ...new Array<number>(Math.ceil(count / 8)).fill(0)),
    );
  const data = Buffer.alloc(2 * count);
  for (let i = 0; i < count; i++)
    data.writeUInt16BE((fn === 3 ? holding(address + i) : 5000 + address + i) & 0xffff, 2 * i);
  return withCrc(Uint8Array.of(unit, fn, 2 * count, ...data));
}

/**
 * A slave behind a stream port: `latency(i, at)` ms for the i-th request (sent at `at`),
 * null for never. Answers go out in order: one never overtakes an earlier late one.
 */
class OrderedSlave {
  readonly requests: Array<{ fn: number; address: number; count: number; at: number }> = [];
  private readonly due: Array<{ at: number; frame: Buffer }> = [];
  private lastAt = -Infinity;

  constructor(
    private readonly clock: ManualClock,
    private readonly latency: (i: number, at: number) => number | null,
  ) {}

  readonly port = { up: true, write: (req: Buffer): void => this.onRequest(req) };

  private onRequest(req: Buffer): void {
    const at = this.clock.monotonic();
    const i = this.requests.length;
    this.requests.push({ fn: req[1]!, address: req.readUInt16BE(2), count: req.readUInt16BE(4), at });
    const ms = this.latency(i, at);
    if (ms === null) return;
    this.lastAt = Math.max(at + ms, this.lastAt + 1);
    this.due.push({ at: this.lastAt, frame: answer(req) });
  }

  /** Hands the transport every answer due by now (what the data events would deliver). */
  deliver(transport: RtuStreamTransport): void {
    while (this.due.length > 0 && this.due[0]!.at <= this.clock.monotonic())
      transport.data(this.due.shift()!.frame);
  }
}

interface Rig {
  clock: ManualClock;
  slave: OrderedSlave;
  transport: RtuStreamTransport;
  line: Line;
  /** Event-loop stalls [from, to) on the clock's monotonic time. */
  stalls: Array<[number, number]>;
}

async function rig(latency: (i: number, at: number) => number | null): Promise<Rig> {
  const clock = new ManualClock(0);
  const slave = new OrderedSlave(clock, latency);
  const transport = new RtuStreamTransport({ name: 'fence', clock, port: slave.port, label: 'test line' });
  const line = testLine('rtu:fence', clock, transport);
  await line.acquire();
  return { clock, slave, transport, line, stalls: [] };
}

/** Runs the loop until `p` settles: timers first, then the data due (none during a stall). */
async function settle<T>(r: Rig, p: Promise<T>): Promise<T> {
  let done = false;
  let value: T | undefined;
  void p.then((v) => {
    done = true;
    value = v;
  });
  for (let i = 0; !done && i < 100_000; i++) {
    const now = r.clock.monotonic();
    const stall = r.stalls.find(([from, to]) => now >= from && now < to);
    await r.clock.advance(stall ? stall[1] - now : 1);
    r.slave.deliver(r.transport);
  }
  assert.ok(done, 'did not settle');
  return value as T;
}

/** The meter reads FC3, one register: any other request is a fence. */
const isFence = (q: { fn: number; count: number }): boolean => q.fn !== 3 || q.count !== 1;

const read = (address: number): LineRead => ({
  unitId: 1,
  function: 'holding',
  address,
  length: 1,
  timeoutMs: TIMEOUT,
});

interface Tally {
  good: number;
  wrong: number;
  codes: string[];
  /** Per read: the value or the code. */
  log: Array<number | string>;
}

async function poll(
  r: Rig,
  rounds: number,
  tally: Tally = { good: 0, wrong: 0, codes: [], log: [] },
): Promise<Tally> {
  for (let k = 0; k < rounds; k++) {
    for (const a of ADDRESSES) {
      const res: LineResult = await settle(r, r.line.execute('meter', read(a)));
      if (!res.ok) {
        tally.codes.push(res.error.code);
        tally.log.push(res.error.code);
        continue;
      }
      tally.good++;
      tally.log.push(Number(res.data[0]));
      if (res.data[0] !== holding(a)) tally.wrong++;
    }
  }
  return tally;
}

test('late-answer-fence-stall: a late answer taken during an event-loop stall is never a good value', async () => {
  // r0 answers 250 ms late (beyond the 200 ms quiet horizon); the next request's answer
  // comes 60 ms after it was sent, but the loop stalls from 260 to 400 ms: the timers
  // (the silence the timing guard waits for) fire before that data is processed.
  const r = await rig((i) => (i === 0 ? 250 : i === 1 ? 60 : 1));
  r.stalls.push([260, 400]);
  const tally = await poll(r, 3);
  assert.equal(tally.wrong, 0, `wrong values published as good: ${JSON.stringify(tally.log)}`);
  assert.equal(tally.log[0], 'EDGE_ERR_MODBUS_TIMEOUT');
  assert.notEqual(tally.log[1], holding(0), 'r10 never gets r0 value');
  assert.ok(tally.good >= 9, `good again after the fence: ${JSON.stringify(tally.log)}`);
  const fences = r.slave.requests.filter(isFence);
  assert.ok(fences.length >= 1, 'a fence read (another shape) was sent');
  assert.equal(r.line.status().fences, fences.length);
});

test('late-answer-fence-recovery: a unit late on everything for a while reads good again only after a fence', async () => {
  // late (beyond the horizon, so late answers land on later requests) until 3 s, then prompt
  const r = await rig((_, at) => (at < 3000 ? 260 : 1));
  const tally = await poll(r, 8);
  assert.equal(tally.wrong, 0, `wrong values published as good: ${JSON.stringify(tally.log)}`);
  assert.ok(tally.good > 0, `values good again after the recovery: ${JSON.stringify(tally.log)}`);
  // the first good value: the request before it on the wire is a fence that was answered
  const reqs = r.slave.requests;
  const firstGood = reqs.findIndex((q, i) => !isFence(q) && q.at >= 3000 && i > 0 && isFence(reqs[i - 1]!));
  assert.ok(firstGood > 0, 'a fence read went out after the slave recovered');
  const lateLog = tally.log.slice(
    0,
    tally.log.findIndex((v) => typeof v === 'number'),
  );
  assert.ok(lateLog.length >= 4, `reads bad while late: ${JSON.stringify(lateLog)}`);
  assert.ok(
    lateLog.every((v) => v === 'EDGE_ERR_MODBUS_TIMEOUT' || v === 'EDGE_ERR_MODBUS_LATE_ANSWER'),
    JSON.stringify(lateLog),
  );
});

test('late-answer-fence-dead-then-alive: fences of a dead unit stay bounded, the unit recovers', async () => {
  const r = await rig((_, at) => (at < 20_000 ? null : 1));
  const tally = await poll(r, 30);
  assert.equal(tally.wrong, 0);
  assert.ok(tally.good > 0, `recovered: ${JSON.stringify(tally.log.slice(-8))}`);
  assert.ok(
    tally.log.slice(-4).every((v) => typeof v === 'number'),
    'good to the end',
  );
});

test('fence-shapes: exceptions are conclusive only for an unused function; writes fence writes', () => {
  const f = new UnitFences();
  const r3 = read(0);
  assert.equal(f.needsFence(r3), false);
  f.lose(1, requestShape(r3));
  assert.ok(f.needsFence(r3), 'same shape: a fence first');
  assert.equal(f.needsFence({ ...r3, length: 2 }), false, 'another byte count is its own fence');
  assert.equal(f.needsFence({ ...r3, unitId: 2 }), false, 'other units carry their own id');
  // an exception to FC3 (count 2) may be the lost FC3 read's exception: not conclusive
  assert.equal(f.answered({ ...r3, length: 2 }, true), false);
  assert.ok(f.isFenced(1));
  const fence = f.fenceFor(r3);
  assert.deepEqual([fence.function, fence.length], ['holding', 3], 'own function, a free byte count');
  assert.equal(f.answered(fence, true), false, 'its exception is not conclusive (FC3 is unaccounted)');
  f.fenceFailed(1);
  const next = f.fenceFor(r3);
  assert.deepEqual([next.function, next.length], ['input', 1], 'after a failure: another read function');
  assert.equal(f.answered(next, true), true, "an exception to an unused function is the fence's own");
  assert.equal(f.isFenced(1), false);
  // a timed-out write: a later write of that function is fenced, by a read
  const w: LineWrite = { kind: 'write', unitId: 1, fc: 6, address: 5, values: [1], timeoutMs: TIMEOUT };
  f.lose(1, requestShape(w));
  assert.ok(f.needsFence(w));
  assert.equal(f.needsFence(r3), false);
  const wf = f.fenceFor(w);
  assert.equal(wf.function, 'holding');
  assert.equal(wf.address, 5);
});

test('fence-shapes: with every read function unaccounted the fence picks a free byte count; the set is bounded', () => {
  const f = new UnitFences();
  for (const fn of ['coil', 'discrete', 'holding', 'input'] as const)
    for (const length of [1, 2]) f.lose(1, requestShape({ ...read(0), function: fn, length }));
  const fence = f.fenceFor(read(0));
  assert.equal(fence.function, 'holding');
  assert.equal(fence.length, 3, 'byte counts 2 and 4 are taken');
  assert.equal(f.answered(fence, true), false, 'its exception is not conclusive');
  for (let n = 1; n <= 100; n++) f.lose(1, { fc: 3, bytes: 2 * n });
  const again = f.fenceFor(read(0));
  assert.equal(
    f.needsFence(again),
    false,
    `the fence's data answer (${again.function} x${again.length}) is distinct`,
  );
  let kept = 0;
  for (let n = 1; n <= 125; n++) if (f.needsFence({ ...read(0), length: n })) kept++;
  assert.ok(kept <= MAX_UNACCOUNTED, `at most ${MAX_UNACCOUNTED} shapes kept (${kept})`);
});
