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
import type { LineResult } from '../../src/drivers/modbus/line.js';
import { withCrc } from '../../src/drivers/modbus/rtu/crc.js';
import { answerFor, scriptedLink, settle, testLine, type Reply } from './scripted-line.js';

const UNIT = 1;
const TIMEOUT_MS = 100;
/** Holding register `a` holds 1000 + a. */
const holding = (a: number): number => 1000 + a;

/** The slave's answer to a read request (FC3 from its registers). */
const asked = (req: Buffer): Buffer => answerFor(req, holding);

/** A valid answer of a one-register FC3 read holding register 10's value: stale for a read of register 0. */
const STALE = Buffer.from(withCrc(Uint8Array.of(UNIT, 3, 2, holding(10) >> 8, holding(10) & 0xff)));

async function rig(script: (req: Buffer, i: number) => Reply) {
  const clock = new ManualClock();
  const { transport, written, link } = scriptedLink('stale', clock, script);
  const line = testLine('dtu:stale', clock, transport);
  transport.linkUp();
  await line.acquire();
  const read = (address: number): Promise<LineResult> =>
    settle(
      clock,
      line.execute('m1', { unitId: UNIT, function: 'holding', address, length: 1, timeoutMs: TIMEOUT_MS }),
    );
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
