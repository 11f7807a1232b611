/**
 * The DTU read path does less per transaction (bench dtu); these pin what it must still
 * do: a frame taken from a chunk without a copy is the right frame, a glued frame is
 * still copied and its trailing bytes reported, a one-byte heartbeat (searched as a
 * number) is removed wherever it falls, the fence still offers known reads after the same
 * read object was answered many times, and the late guard's keepalive horizon still holds
 * until it passes (checked without a clock read once it has).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { UnitFences } from '../../src/drivers/modbus/fence.js';
import { LateAnswerGuard } from '../../src/drivers/modbus/late-guard.js';
import type { LineRead } from '../../src/drivers/modbus/port.js';
import { withCrc } from '../../src/drivers/modbus/rtu/crc.js';
import { frameRegisters, RtuResponseReader } from '../../src/drivers/modbus/rtu/frame.js';
import { HeartbeatFilter } from '../../src/drivers/modbus/rtu/heartbeat.js';

/** The answer of unit 1 to a read of `regs.length` holding registers. */
const answer = (regs: readonly number[]): Buffer =>
  withCrc(Uint8Array.from([1, 3, regs.length * 2, ...regs.flatMap((r) => [r >> 8, r & 0xff])]));

test('rtu-reader-whole-chunk: a chunk that is exactly the frame gives that frame and its registers', () => {
  const reader = new RtuResponseReader();
  reader.expect({ unit: 1, fn: 3, count: 3 });
  const chunk = answer([0x0102, 0xfffe, 7]);
  const got = reader.feed(chunk);
  assert.ok(got.frame && got.frame.kind === 'data');
  assert.deepEqual(frameRegisters(got.frame.data, 3), [0x0102, 0xfffe, 7]);
  assert.equal(got.trailing, 0);
  assert.equal(reader.counters.garbageBytes, 0);
  assert.deepEqual([...got.frame.raw], [...chunk]);
  // the next transaction starts empty: the chunk is not kept as buffered input
  reader.expect({ unit: 1, fn: 3, count: 1 });
  assert.equal(reader.buffered, 0);
});

test('rtu-reader-glued-chunk: garbage and a next answer around the frame are counted and reported', () => {
  const reader = new RtuResponseReader();
  reader.expect({ unit: 1, fn: 3, count: 2 });
  const frame = answer([10, 20]);
  const next = answer([30, 40]).subarray(0, 4); // the start of another answer of unit 1
  const chunk = Buffer.concat([Buffer.of(0x55), frame, next]);
  const got = reader.feed(chunk);
  assert.ok(got.frame && got.frame.kind === 'data');
  assert.deepEqual(frameRegisters(got.frame.data, 2), [10, 20]);
  assert.equal(got.trailing, 4);
  assert.equal(reader.counters.garbageBytes, 1);
  // a frame inside a larger chunk is a copy: it does not keep (or see) the chunk's memory
  chunk.fill(0);
  assert.deepEqual([...got.frame.raw], [...frame]);
});

test('heartbeat-one-byte: a one-byte heartbeat is removed wherever it falls, and counted', () => {
  const filter = new HeartbeatFilter(Buffer.of(0xfe));
  assert.deepEqual([...filter.feed(Buffer.of(0xfe, 1, 3, 0xfe, 0xfe, 2, 0xfe))], [1, 3, 2]);
  assert.equal(filter.count, 4);
  assert.deepEqual([...filter.feed(Buffer.of(4, 5))], [4, 5]);
  assert.deepEqual([...filter.feed(Buffer.of(0xfe))], []);
  assert.equal(filter.count, 5);
  assert.equal(filter.held.length, 0);
});

test('fence-known-read-identity: a read answered every cycle is remembered once; older known reads stay candidates', () => {
  const fences = new UnitFences();
  const input: LineRead = { unitId: 1, function: 'input', address: 0, length: 2, timeoutMs: 100 };
  const holding: LineRead = { unitId: 1, function: 'holding', address: 0, length: 10, timeoutMs: 100 };
  assert.equal(fences.needsFence(holding), false); // nothing unaccounted: no fence, no shape built
  assert.equal(fences.answered(input, false), true);
  for (let i = 0; i < 20; i++) assert.equal(fences.answered(holding, false), true);
  // a copy of the same read is the same known read, not another one
  for (let i = 0; i < 20; i++) assert.equal(fences.answered({ ...holding }, false), true);
  fences.lose(1, { fc: 3, bytes: 20 }); // the holding read's answer went missing
  assert.equal(fences.needsFence(holding), true);
  // the input read (another function, answered before 40 holding reads) is the first candidate
  const fence = fences.fenceFor(holding);
  assert.deepEqual(
    { function: fence.function, address: fence.address, length: fence.length },
    { function: 'input', address: 0, length: 2 },
  );
  // its answer is conclusive and clears the fence; the holding read is not
  assert.equal(fences.answered(holding, false), false);
  assert.equal(fences.answered(fence, false), true);
  assert.equal(fences.isFenced(1), false);
});

test('late-guard-keepalive-horizon: the link holds until the horizon passes, then not, and a new timeout holds again', async () => {
  const clock = new ManualClock();
  const guard = new LateAnswerGuard({
    key: 'k',
    clock,
    gapMs: 0,
    logger: silentLogger,
    discard: () => 0,
  });
  assert.equal(guard.holdsBeforeSend(), false);
  guard.noteTimeout(1, clock.monotonic(), 100); // horizon: 2 timeouts after the send
  assert.equal(guard.holdsBeforeSend(), true);
  await clock.advance(150);
  assert.equal(guard.holdsBeforeSend(), true);
  await clock.advance(60);
  assert.equal(guard.holdsBeforeSend(), false);
  assert.equal(guard.holdsBeforeSend(), false);
  guard.noteTimeout(1, clock.monotonic(), 100);
  assert.equal(guard.holdsBeforeSend(), true);
  // bytes no request waited for hold the next request too, with or without a clock time given
  await clock.advance(300);
  assert.equal(guard.holdsBeforeSend(), false);
  guard.rx(3, false, clock.monotonic());
  assert.equal(guard.holdsBeforeSend(), true);
});
