/**
 * The agent's Modbus TCP client (src/drivers/modbus/tcp) on a scripted socket and a manual
 * clock: answers split into pieces or glued together, late answers of timed-out requests
 * (their transaction id is retired: discarded and counted, never taken for the next
 * request of the same shape), answers that do not fit their request, and a stream out of
 * step. Each case is named after the defect it rules out.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { EdgeError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/ports.js';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import { MbapSplitter, readRequest } from '../../src/drivers/modbus/tcp/mbap.js';
import { ModbusTcpTransport, type TcpSocketPort } from '../../src/drivers/modbus/tcp/transport.js';
import { seededRandom } from '../../src/tools/dtu-sim/prng.js';

/** A socket whose peer is the test: requests are recorded, answers pushed in any pieces. */
class ScriptedSocket implements TcpSocketPort {
  readonly written: Buffer[] = [];
  destroyed = false;
  private data: (chunk: Buffer) => void = () => undefined;
  private closed: (err?: Error) => void = () => undefined;

  write(data: Buffer): void {
    this.written.push(Buffer.from(data));
  }
  destroy(): void {
    this.destroyed = true;
  }
  onData(listener: (chunk: Buffer) => void): void {
    this.data = listener;
  }
  onClose(listener: (err?: Error) => void): void {
    this.closed = listener;
  }
  push(...chunks: Buffer[]): void {
    for (const c of chunks) this.data(c);
  }
  peerCloses(err?: Error): void {
    this.closed(err);
  }
  /** Transaction id of the n-th request written. */
  tid(n: number): number {
    return this.written[n]!.readUInt16BE(0);
  }
}

/** A read-holding answer with its MBAP header. */
function holdingAnswer(
  tid: number,
  unit: number,
  registers: number[],
  byteCount = registers.length * 2,
): Buffer {
  const b = Buffer.alloc(9 + registers.length * 2);
  b.writeUInt16BE(tid, 0);
  b.writeUInt16BE(3 + registers.length * 2, 4);
  b[6] = unit;
  b[7] = 3;
  b[8] = byteCount;
  registers.forEach((r, i) => b.writeUInt16BE(r, 9 + 2 * i));
  return b;
}

function exceptionAnswer(tid: number, unit: number, fn: number, code: number): Buffer {
  return Buffer.from([tid >> 8, tid & 0xff, 0, 0, 0, 3, unit, 0x80 | fn, code]);
}

async function open(maxInFlight?: number) {
  const clock = new ManualClock();
  const socket = new ScriptedSocket();
  const t = new ModbusTcpTransport({ host: 'plc', port: 502, clock, maxInFlight, dial: async () => socket });
  await t.connect();
  return { clock, socket, t };
}

/** Settles a promise into a value or an error code without unhandled rejections. */
function outcome<T>(p: Promise<T>): { readonly value?: T; readonly code?: string; readonly done: boolean } {
  const o: { value?: T; code?: string; done: boolean } = { done: false };
  p.then(
    (v) => Object.assign(o, { value: v, done: true }),
    (e: unknown) => Object.assign(o, { code: e instanceof EdgeError ? e.code : String(e), done: true }),
  );
  return o;
}

const flush = () => new Promise<void>((r) => setImmediate(r));

test('tcp-answer-split-into-single-bytes: reassembled, one answer', async () => {
  const { socket, t } = await open();
  const r = outcome(t.readHolding(1, 100, 3, 1000));
  const answer = holdingAnswer(socket.tid(0), 1, [7, 8, 9]);
  for (const byte of answer) socket.push(Buffer.of(byte));
  await flush();
  assert.deepEqual(r.value, [7, 8, 9]);
  assert.deepEqual(socket.written[0], readRequest(socket.tid(0), 1, 3, 100, 3));
});

test('tcp-answers-glued-in-one-segment: each goes to its own request (two in flight allowed)', async () => {
  const { socket, t } = await open(2);
  const a = outcome(t.readHolding(1, 0, 2, 1000));
  const b = outcome(t.readHolding(1, 10, 2, 1000));
  assert.equal(socket.written.length, 2, 'maxInFlight 2: both on the wire');
  // answered out of order, glued, the second split across the next segment
  const second = holdingAnswer(socket.tid(1), 1, [20, 21]);
  const first = holdingAnswer(socket.tid(0), 1, [1, 2]);
  const glued = Buffer.concat([second, first]);
  socket.push(glued.subarray(0, 13), glued.subarray(13));
  await flush();
  assert.deepEqual(a.value, [1, 2]);
  assert.deepEqual(b.value, [20, 21]);
});

test('tcp-read-buffer-reused: answers handed over in one buffer that the next read overwrites decode right', async () => {
  const { socket, t } = await open(2);
  const a = outcome(t.readHolding(1, 0, 2, 1000));
  const b = outcome(t.readHolding(1, 10, 2, 1000));
  const stream = Buffer.concat([
    holdingAnswer(socket.tid(0), 1, [1, 2]),
    holdingAnswer(socket.tid(1), 1, [20, 21]),
  ]);
  // dialTcp's reads share one buffer: each chunk is a view of it, scribbled over after the call
  const shared = Buffer.alloc(64);
  for (const [from, to] of [
    [0, 5],
    [5, 16],
    [16, stream.length],
  ] as const) {
    stream.copy(shared, 0, from, to);
    socket.push(shared.subarray(0, to - from));
    shared.fill(0xaa);
  }
  await flush();
  assert.deepEqual(a.value, [1, 2]);
  assert.deepEqual(b.value, [20, 21]);
});

test('tcp-one-request-outstanding-by-default: the second waits for the first answer', async () => {
  const { socket, t } = await open();
  const a = outcome(t.readHolding(1, 0, 1, 1000));
  const b = outcome(t.readHolding(1, 5, 1, 1000));
  assert.equal(socket.written.length, 1);
  socket.push(holdingAnswer(socket.tid(0), 1, [3]));
  await flush();
  assert.equal(socket.written.length, 2, 'sent once the first was answered');
  assert.notEqual(socket.tid(1), socket.tid(0));
  socket.push(holdingAnswer(socket.tid(1), 1, [4]));
  await flush();
  assert.deepEqual([a.value, b.value], [[3], [4]]);
});

test('tcp-stale-transaction-never-taken: a late answer glued before the real one is discarded and counted', async () => {
  const { clock, socket, t } = await open();
  const first = outcome(t.readHolding(1, 0, 2, 100));
  await clock.advance(100);
  assert.equal(first.code, 'EDGE_ERR_MODBUS_TIMEOUT');
  // the next request has the same unit, function and length, other registers
  const second = outcome(t.readHolding(1, 50, 2, 100));
  const late = holdingAnswer(socket.tid(0), 1, [111, 112]);
  socket.push(late);
  await flush();
  assert.equal(second.done, false, 'the late answer is not taken for the waiting request');
  socket.push(Buffer.concat([late, holdingAnswer(socket.tid(1), 1, [501, 502])]));
  await flush();
  assert.deepEqual(second.value, [501, 502]);
  assert.equal(t.counters.staleAnswers, 2);
  assert.equal(t.counters.timeouts, 1);
});

test('tcp-answer-not-fitting-its-request: wrong unit, function or byte count is BAD_RESPONSE, never values', async () => {
  const { socket, t } = await open();
  const cases: Array<[string, (tid: number) => Buffer]> = [
    ['wrong unit', (tid) => holdingAnswer(tid, 2, [1, 2])],
    ['byte count lies', (tid) => holdingAnswer(tid, 1, [1, 2], 2)],
    ['fewer registers', (tid) => holdingAnswer(tid, 1, [1])],
    ['other function', (tid) => Object.assign(holdingAnswer(tid, 1, [1, 2]), { 7: 4 })],
    ['exception of 2 bytes', (tid) => Buffer.from([tid >> 8, tid & 0xff, 0, 0, 0, 4, 1, 0x83, 2, 0])],
  ];
  for (const [i, [name, answer]] of cases.entries()) {
    const r = outcome(t.readHolding(1, 0, 2, 1000));
    socket.push(answer(socket.tid(i)));
    await flush();
    assert.equal(r.code, 'EDGE_ERR_MODBUS_BAD_RESPONSE', name);
  }
  assert.equal(t.counters.badAnswers, cases.length);
  assert.equal(t.isOpen, true, 'a well-framed bad answer keeps the stream');
});

test('tcp-exception-answer: the exception code and its stable code', async () => {
  const { socket, t } = await open();
  const p = t.readHolding(7, 0, 2, 1000);
  socket.push(exceptionAnswer(socket.tid(0), 7, 3, 2));
  await assert.rejects(
    p,
    (e: EdgeError) => e.code === 'EDGE_ERR_MODBUS_ILLEGAL_ADDRESS' && e.context.modbusCode === 2,
  );
});

test('tcp-stream-out-of-step: a header with protocol id ≠ 0 drops the connection, pending fails', async () => {
  const { socket, t } = await open();
  const closes: Array<Error | undefined> = [];
  t.onClose((err) => closes.push(err));
  const r = outcome(t.readHolding(1, 0, 2, 1000));
  const answer = holdingAnswer(socket.tid(0), 1, [1, 2]);
  answer[2] = 0x12;
  socket.push(answer);
  await flush();
  assert.equal(r.code, 'EDGE_ERR_MODBUS_BAD_RESPONSE');
  assert.equal(socket.destroyed, true);
  assert.equal(t.isOpen, false);
  assert.equal(closes.length, 1, 'the Line is told, and reconnects');
  assert.equal(t.counters.framingErrors, 1);
});

test('tcp-peer-closes: the outstanding request fails DISCONNECTED at once, listeners told', async () => {
  const { socket, t } = await open();
  let told = 0;
  t.onClose(() => told++);
  const r = outcome(t.readHolding(1, 0, 2, 60_000));
  socket.peerCloses(new Error('ECONNRESET'));
  await flush();
  assert.equal(r.code, 'EDGE_ERR_MODBUS_DISCONNECTED');
  assert.equal(told, 1);
  await assert.rejects(
    t.readHolding(1, 0, 2, 1000),
    (e: EdgeError) => e.code === 'EDGE_ERR_MODBUS_DISCONNECTED',
  );
});

test('tcp-write-echo-checked: an FC06 answer echoing another value is BAD_RESPONSE', async () => {
  const { socket, t } = await open();
  const ok = outcome(t.writeValues(1, 6, 40, [1234], 1000));
  const echo = Buffer.from(socket.written[0]!);
  socket.push(echo);
  await flush();
  assert.equal(ok.done && ok.code, undefined);
  const bad = outcome(t.writeValues(1, 6, 40, [1234], 1000));
  const wrong = Buffer.from(socket.written[1]!);
  wrong.writeUInt16BE(4321, 10);
  socket.push(wrong);
  await flush();
  assert.equal(bad.code, 'EDGE_ERR_MODBUS_BAD_RESPONSE');
});

test('mbap-splitter: any cut of a stream of ADUs yields the same ADUs (seeded)', () => {
  const random = seededRandom(16);
  const adus = Array.from({ length: 40 }, (_, i) =>
    holdingAnswer(
      i,
      1 + (i % 3),
      Array.from({ length: 1 + Math.floor(random() * 20) }, () => i),
    ),
  );
  const stream = Buffer.concat(adus);
  for (let round = 0; round < 200; round++) {
    const splitter = new MbapSplitter();
    const got: Buffer[] = [];
    for (let at = 0; at < stream.length;) {
      const end = Math.min(stream.length, at + 1 + Math.floor(random() * 60));
      assert.equal(
        splitter.push(stream.subarray(at, end), (adu) => got.push(Buffer.from(adu))),
        undefined,
      );
      at = end;
    }
    assert.deepEqual(got, adus);
    assert.equal(splitter.buffered, 0);
  }
});

test('tcp-late-answer-through-the-driver: a poll after a timeout reads its own registers, never the late ones', async () => {
  const clock = new ManualClock();
  const socket = new ScriptedSocket();
  const family = createModbusFamily(
    { clock, logger: silentLogger, random: () => 0.5 },
    {
      transportFactory: () =>
        new ModbusTcpTransport({ host: 'gw', port: 502, clock, dial: async () => socket }),
    },
  );
  const d = family.create(
    modbusDeviceSchema.parse({
      name: 'meter',
      driver: 'modbus',
      connection: { transport: 'tcp', host: 'gw', port: 502 },
      timeoutMs: 100,
      tags: [
        { name: 'a', function: 'holding', address: 0 },
        { name: 'b', function: 'holding', address: 10 },
      ],
    }),
  );
  d.init();
  await d.start();
  const first = outcome(d.poll(['a']));
  await clock.advance(100);
  assert.equal(first.value?.[0]?.quality === 'bad' && first.value[0].code, 'EDGE_ERR_MODBUS_TIMEOUT');
  const second = outcome(d.poll(['b']));
  await flush();
  socket.push(holdingAnswer(socket.tid(0), 1, [666]));
  await clock.advance(10);
  assert.equal(second.done, false, 'the late answer to a is not b');
  socket.push(holdingAnswer(socket.tid(1), 1, [42]));
  await clock.advance(1);
  const [b] = second.value ?? [];
  assert.equal(b?.quality === 'good' && b.value, 42);
  await family.close();
});
