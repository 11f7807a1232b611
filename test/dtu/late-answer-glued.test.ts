/**
 * Review of issue 11 item 1 on the agent's own RTU framer (DTU links and echo-suppressed
 * serial lines), on a manual clock. A late answer glued in one chunk in front of the real
 * answer of the next request of the same shape: the framer takes the first matching frame
 * (the late one) and used to drop the bytes after it as garbage, so the Line's
 * confirmation saw silence and published the previous request's register as good. A late
 * exception response taken as the next request's answer: it was reported as that
 * request's refusal (quarantining a good tag) and counted as the device's answer.
 * Since the order fence (fence.ts) the request after a timeout is a fence read of another
 * shape: the scripted slave answers what it is asked (`asked`), with the late bytes in front.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import type { LineResult } from '../../src/drivers/modbus/line.js';
import { withCrc } from '../../src/drivers/modbus/rtu/crc.js';
import { answerFor, scriptedLink, settle, testLine, type Reply } from '../modbus/scripted-line.js';

const UNIT = 1;
const TIMEOUT_MS = 100;

/** FC3 answer of one register whose value is its address. */
function answer(address: number): Buffer {
  return withCrc(Uint8Array.from([UNIT, 3, 2, (address >> 8) & 0xff, address & 0xff]));
}

/** Good only with the requested register's value, else reported late. */
function neverWrong(result: LineResult, address: number): void {
  if (result.ok) assert.deepEqual(result.data, [address], 'a good value must be the requested register');
  else assert.equal(result.error.code, 'EDGE_ERR_MODBUS_LATE_ANSWER');
}

/** The slave's answer to a read request: register i holds its address i. */
const asked = (req: Buffer): Buffer => answerFor(req, (address) => address);

/** A scripted reply, or one built from the request; none left: the slave answers what was asked. */
type Script = Reply | ((req: Buffer) => Reply);

async function rig() {
  const clock = new ManualClock();
  /** One entry per request, in order (empty: the slave is silent). */
  const replies: Script[] = [];
  const { transport, written, link } = scriptedLink('dtu1', clock, (req) => {
    const script = replies.shift() ?? [{ afterMs: 5, bytes: asked(req) }];
    return typeof script === 'function' ? script(req) : script;
  });
  const line = testLine('dtu:dtu1', clock, transport);
  await line.acquire();
  const read = (address: number): Promise<LineResult> =>
    settle(
      clock,
      line.execute('m1', { unitId: UNIT, function: 'holding', address, length: 1, timeoutMs: TIMEOUT_MS }),
    );
  // the fresh link fences the unit before its first read: done here, the tests start warm
  const primed = await read(99);
  assert.deepEqual(primed.ok ? primed.data : primed.error.code, [99]);
  written.length = 0;
  return { line, replies, read, requests: () => written.length, written, link, transport, clock };
}

test('late-answer-glued-before-next-answer: a late answer glued in front of the real one is never a good value', async () => {
  const { line, replies, read, requests } = await rig();
  // register 0: the slave does not answer in time (nothing arrives within the horizon)
  replies.push([]);
  const first = await read(0);
  assert.equal(first.ok ? undefined : first.error.code, 'EDGE_ERR_MODBUS_TIMEOUT');
  // the next request (the fence before register 10): the late answer to register 0 and
  // the real answer arrive in one chunk
  replies.push((req) => [{ afterMs: 5, bytes: Buffer.concat([answer(0), asked(req)]) }]);
  const second = await read(10);
  assert.equal(requests(), 3, 'a fence read, then the read');
  neverWrong(second, 10);
  assert.ok(second.ok, 'the fence answered conclusively: the read is good');
  await line.close();
});

test("late-exception-after-timeout: a late exception response is not the next read's refusal", async () => {
  const { line, replies, read } = await rig();
  replies.push([]);
  const first = await read(0);
  assert.equal(first.ok ? undefined : first.error.code, 'EDGE_ERR_MODBUS_TIMEOUT');
  // the slave refuses register 0 late; register 10's real answer follows
  const refusal = withCrc(Uint8Array.from([UNIT, 0x83, 0x02]));
  replies.push((req) => [
    { afterMs: 5, bytes: refusal },
    { afterMs: 20, bytes: asked(req) },
  ]);
  const second = await read(10);
  // the refusal could be the fence's own (same function): not conclusive, the read not sent
  assert.equal(second.ok ? 'good' : second.error.code, 'EDGE_ERR_MODBUS_LATE_ANSWER');
  await line.close();
});

test('late-answer-after-link-up: the first answer after a DTU re-registers is still confirmed', async () => {
  const { line, replies, read, link, transport } = await rig();
  replies.push([]);
  const first = await read(0);
  assert.equal(first.ok ? undefined : first.error.code, 'EDGE_ERR_MODBUS_TIMEOUT');
  // the DTU drops and registers again; it forwards the answer it held, then the real one
  link.up = false;
  transport.linkDown('test');
  link.up = true;
  transport.linkUp();
  replies.push((req) => [
    { afterMs: 5, bytes: answer(0) },
    { afterMs: 20, bytes: asked(req) },
  ]);
  const second = await read(10);
  neverWrong(second, 10);
  assert.ok(second.ok, 'good after the fence');
  await line.close();
});

test("trailing-noise-after-answer: a byte of bus noise after a suspect slave's answer is not a late answer", async () => {
  const { line, replies, read } = await rig();
  replies.push([]);
  const first = await read(0);
  assert.equal(first.ok ? undefined : first.error.code, 'EDGE_ERR_MODBUS_TIMEOUT');
  // the real answer with a turnaround byte behind it, twice: the slave reads again
  replies.push((req) => [{ afterMs: 5, bytes: Buffer.concat([asked(req), Buffer.from([0x00])]) }]);
  replies.push((req) => [{ afterMs: 5, bytes: Buffer.concat([asked(req), Buffer.from([0x00])]) }]);
  const second = await read(10);
  assert.deepEqual(second.ok ? second.data : second.error.code, [10]);
  replies.push((req) => [{ afterMs: 5, bytes: Buffer.concat([asked(req), Buffer.from([0xff])]) }]);
  const third = await read(20);
  assert.deepEqual(third.ok ? third.data : third.error.code, [20]);
  await line.close();
});

test("late-keepalive-answer: the late answer to a timed-out DTU keepalive is never a device read's value", async () => {
  const { line, replies, read, transport, clock, written } = await rig();
  // the hub's keepalive (unit 1, holding 0, one register) gets no answer in time
  replies.push([]);
  const keepalive = transport.keepalive(UNIT, 0, TIMEOUT_MS).then(
    () => 'answered',
    (e: Error & { code?: string }) => e.code,
  );
  for (let i = 0; i < TIMEOUT_MS + 1; i++) await clock.advance(1);
  assert.equal(await keepalive, 'EDGE_ERR_MODBUS_TIMEOUT');
  const before = written.length;
  // a device read of the same shape: the keepalive's late answer, then the real one
  replies.push((req) => [
    { afterMs: 5, bytes: answer(0) },
    { afterMs: 20, bytes: asked(req) },
  ]);
  const second = await read(10);
  neverWrong(second, 10);
  assert.ok(second.ok, 'good after the fence');
  assert.equal(written.length - before, 2, 'the keepalive fenced the unit: a fence read went first');
  await line.close();
});
