/**
 * Stale answers on a fresh link, on a manual clock with the agent's own RTU framer (as on
 * a DTU link or an echo-suppressed serial line): bytes the link delivers after it opened
 * (a slave answering a request sent before a restart, a DTU's buffer) are not an answer
 * to the first request. Before the first request they are drained and counted
 * (`staleBytes`); later ones, e.g. after an event-loop stall made the line look quiet,
 * cannot pass either: every unit is fenced on a fresh link, so the first answer taken
 * must be conclusive by shape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { Line, type LineResult } from '../../src/drivers/modbus/line.js';
import { withCrc } from '../../src/drivers/modbus/rtu/crc.js';
import { RtuStreamTransport } from '../../src/drivers/modbus/rtu/stream-transport.js';

const UNIT = 1;
const TIMEOUT_MS = 100;
/** Holding register `a` holds 1000 + a. */
const holding = (a: number): number => 1000 + a;

/** The slave's answer to a read request (FC3 from its registers). */
function asked(req: Buffer): Buffer {
  const address = req.readUInt16BE(2);
  const count = req.readUInt16BE(4);
  const data = Buffer.alloc(2 * count);
  for (let i = 0; i < count; i++) data.writeUInt16BE(holding(address + i), 2 * i);
  return Buffer.from(withCrc(Uint8Array.from([req[0]!, req[1]!, 2 * count, ...data])));
}

/** A valid answer of a one-register FC3 read holding register 10's value: stale for a read of register 0. */
const STALE = Buffer.from(withCrc(Uint8Array.of(UNIT, 3, 2, holding(10) >> 8, holding(10) & 0xff)));

/** What the link delivers after the i-th request: chunks, each `afterMs` after it. */
type Script = (req: Buffer, i: number) => ReadonlyArray<{ readonly afterMs: number; readonly bytes: Buffer }>;

async function rig(script: Script) {
  const clock = new ManualClock();
  const written: Buffer[] = [];
  const link = { up: true };
  const transport = new RtuStreamTransport({
    name: 'stale',
    clock,
    port: {
      get up(): boolean {
        return link.up;
      },
      write: (req: Buffer) => {
        written.push(req);
        for (const { afterMs, bytes } of script(req, written.length - 1))
          clock.setTimeout(() => transport.data(bytes), afterMs);
      },
    },
  });
  const line = new Line({
    key: 'dtu:stale',
    kind: 'rtu',
    gapMs: 2,
    backoff: { initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0 },
    clock,
    random: () => 0.5,
    logger: silentLogger,
    transport,
  });
  transport.linkUp();
  await line.acquire();
  const read = async (address: number): Promise<LineResult> => {
    const p = line.execute('m1', {
      unitId: UNIT,
      function: 'holding',
      address,
      length: 1,
      timeoutMs: TIMEOUT_MS,
    });
    let result: LineResult | undefined;
    void p.then((r) => (result = r));
    for (let i = 0; result === undefined && i < 100_000; i++) await clock.advance(1);
    assert.ok(result, 'did not settle');
    return result;
  };
  return { clock, line, transport, link, written, read };
}

const value = (r: LineResult): unknown => (r.ok ? r.data[0] : r.error.code);

test('stale-frame-before-first-request: drained and counted, the first read is good', async () => {
  const { line, transport, read } = await rig((req) => [{ afterMs: 5, bytes: asked(req) }]);
  // the link delivers a stale answer right after it opened, before any request
  transport.data(STALE);
  const first = await read(0);
  assert.equal(value(first), holding(0));
  assert.equal(line.status().staleBytes, STALE.length, 'the stale bytes are counted');
  assert.equal(line.status().lateAnswers, 0, 'not counted as a late answer of ours');
  await line.close();
});

test('stale-frame-after-first-request-never-good: a stale answer arriving after the first request went out is not its answer', async () => {
  // the stale answer (register 10's value, the first read's shape) arrives 1 ms after the
  // first request was written; the real answer 5 ms after
  const { line, read, written } = await rig((req, i) => [
    ...(i === 0 ? [{ afterMs: 1, bytes: STALE }] : []),
    { afterMs: 5, bytes: asked(req) },
  ]);
  const first = await read(0);
  assert.equal(value(first), holding(0), 'the first good value is register 0, not the stale answer');
  assert.equal(written.length, 2, 'a fence read of another shape went first');
  assert.notEqual(written[0]!.readUInt16BE(4), 1, 'the fence reads another register count');
  assert.equal(line.status().fences, 1);
  const second = await read(0);
  assert.equal(value(second), holding(0));
  assert.equal(written.length, 3, 'no fence once the unit answered conclusively');
  await line.close();
});

test('stale-frame-after-link-up-never-good: a DTU that registers again is a fresh link: its first answer is fenced', async () => {
  let upAt = Infinity;
  const { line, read, written, transport, link } = await rig((req, i) => [
    ...(i === upAt ? [{ afterMs: 1, bytes: STALE }] : []),
    { afterMs: 5, bytes: asked(req) },
  ]);
  assert.equal(value(await read(0)), holding(0));
  assert.equal(value(await read(0)), holding(0));
  link.up = false;
  transport.linkDown('test');
  link.up = true;
  transport.linkUp();
  upAt = written.length;
  const after = await read(0);
  assert.equal(value(after), holding(0), 'the stale answer is not the first read after link-up');
  assert.equal(line.status().fences, 2, 'fenced once per fresh link');
  await line.close();
});
