/**
 * PUBACKed rowids reach the outbox in batches: at the end of the turn that filled
 * maxRows or went idle, else after maxDelayMs; flush() acks what is buffered at once.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { HOLD_MAX_ROWS, OutboxAcks } from '../../src/forwarders/mqtt/outbox-acks.js';

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

function setup(maxRows = 4, maxDelayMs = 20) {
  const clock = new ManualClock();
  const acks: number[][] = [];
  const errors: string[] = [];
  const outbox = new OutboxAcks(
    (rowids) => void acks.push(rowids),
    (e) => errors.push(e.message),
    { clock, maxRows, maxDelayMs },
  );
  return { clock, acks, errors, outbox };
}

it('outbox-acks-batched: rowids wait for maxDelayMs, then go in one ack', async () => {
  const { clock, acks, errors, outbox } = setup();
  outbox.add([1, 2]);
  outbox.add([3]);
  await nextTurn();
  assert.deepEqual(acks, [], 'nothing acked before maxDelayMs while below maxRows');
  await clock.advance(19);
  assert.deepEqual(acks, []);
  await clock.advance(1);
  assert.deepEqual(acks, [[1, 2, 3]]);
  assert.deepEqual(errors, []);
});

it('outbox-acks-max-rows: reaching maxRows acks at the end of the turn, merging that turn', async () => {
  const { acks, outbox } = setup(4);
  outbox.add([1, 2, 3]);
  outbox.add([4]);
  outbox.add([5]);
  assert.deepEqual(acks, [], 'never inside the PUBACK turn');
  await nextTurn();
  assert.deepEqual(acks, [[1, 2, 3, 4, 5]]);
});

it('outbox-acks-idle: with nothing in flight the buffer is acked at the end of the turn', async () => {
  const { acks, outbox } = setup();
  outbox.add([7]);
  outbox.idle();
  assert.deepEqual(acks, []);
  await nextTurn();
  assert.deepEqual(acks, [[7]]);
  outbox.idle();
  await nextTurn();
  assert.equal(acks.length, 1, 'idle with an empty buffer acks nothing');
});

it('outbox-acks-flush: flush acks at once and cancels the pending timer', async () => {
  const { clock, acks, outbox } = setup();
  outbox.add([4]);
  outbox.flush();
  assert.deepEqual(acks, [[4]]);
  await clock.advance(50);
  assert.equal(acks.length, 1, 'a flush cancels the pending ack');
  assert.equal(clock.pendingCount, 0);
});

it('outbox-acks-failure-retried: a failed ack keeps its rowids and is retried with backoff until it succeeds', async () => {
  const clock = new ManualClock();
  const errors: string[] = [];
  const acks: number[][] = [];
  let failing = true;
  let recovered = 0;
  const outbox = new OutboxAcks(
    (rowids) => {
      if (failing) throw new Error('disk I/O error');
      acks.push(rowids);
    },
    (e) => errors.push(e.message),
    { clock, maxRows: 100, maxDelayMs: 5, onRecovered: () => recovered++ },
  );
  outbox.add([7]);
  await clock.advance(5);
  assert.deepEqual(errors, ['disk I/O error']);
  assert.equal(outbox.failing, true);
  outbox.add([8]);
  outbox.idle();
  await nextTurn();
  assert.equal(errors.length, 1, 'no attempt before the backoff');
  await clock.advance(100);
  assert.equal(errors.length, 2, 'retried after 100 ms');
  failing = false;
  await clock.advance(199);
  assert.deepEqual(acks, []);
  await clock.advance(1);
  assert.deepEqual(acks, [[7, 8]], 'the failed rowids and the later ones, once');
  assert.equal(outbox.failing, false);
  assert.equal(recovered, 1);
  assert.equal(outbox.buffered, 0);
});

it('outbox-acks-comb: while in flight, a message outside a long run waits one batch for its neighbours', async () => {
  const clock = new ManualClock();
  const acks: number[][] = [];
  const outbox = new OutboxAcks(
    (rowids) => void acks.push(rowids),
    (e) => assert.fail(e),
    { clock, maxRows: 100, maxDelayMs: 20, minRun: 4 },
  );
  // Device a's message holds rowids 1, 3, 5, 7 (b's 2, 4, 6, 8 not PUBACKed yet); then 20..25.
  outbox.add([1, 3, 5, 7]);
  outbox.add([20, 21, 22, 23, 24, 25]);
  await clock.advance(20);
  assert.deepEqual(acks, [[20, 21, 22, 23, 24, 25]], 'the comb is held back');
  outbox.add([2, 4, 6, 8]);
  await clock.advance(20);
  assert.deepEqual(acks[1], [1, 3, 5, 7, 2, 4, 6, 8], 'whole messages, PUBACK order, one run');
  outbox.add([40, 42]);
  await clock.advance(20);
  assert.equal(acks.length, 2, 'held once');
  await clock.advance(20);
  assert.deepEqual(acks[2], [40, 42], 'never held twice');
  outbox.add([50, 52]);
  outbox.idle();
  await nextTurn();
  assert.deepEqual(acks[3], [50, 52], 'nothing in flight: everything goes');
});

it('outbox-acks-floor: with the drain floors, rowids go as soon as they are settled, rowid by rowid', async () => {
  const clock = new ManualClock();
  const acks: number[][] = [];
  let floor = 0;
  const outbox = new OutboxAcks(
    (rowids) => void acks.push(rowids),
    (e) => assert.fail(e),
    { clock, maxRows: 100, maxDelayMs: 20, minRun: 4, settled: () => (rowid) => rowid < floor },
  );
  // Device a's messages span 1..7 and 9..15 (odd rowids), b's the even ones; b's first is in flight.
  outbox.add([1, 3, 5, 7]);
  outbox.add([9, 11, 13, 15]);
  floor = 2;
  await clock.advance(20);
  assert.deepEqual(acks, [[1]], 'only what no unacked row lies below; 3.. wait for 2, 4, ..');
  outbox.add([2, 4, 6, 8]);
  floor = 10; // b's next message (10..16) in flight
  await clock.advance(20);
  assert.deepEqual(acks[1], [3, 5, 7, 9, 2, 4, 6, 8], 'one run 2..9, split across messages');
  await clock.advance(100);
  assert.equal(acks.length, 2, 'held as long as the floor says, not one batch');
  outbox.idle();
  await clock.advance(0);
  await nextTurn();
  assert.deepEqual(acks[2], [11, 13, 15], 'nothing in flight: everything goes');
});

it('outbox-acks-floor-bound: more than HOLD_MAX_ROWS held: everything goes', async () => {
  const clock = new ManualClock();
  const acks: number[][] = [];
  const outbox = new OutboxAcks(
    (rowids) => void acks.push(rowids),
    (e) => assert.fail(e),
    { clock, maxRows: 1 << 20, maxDelayMs: 20, settled: () => () => false },
  );
  outbox.add(Array.from({ length: HOLD_MAX_ROWS }, (_, i) => 2 * i));
  await clock.advance(20);
  assert.deepEqual(acks, [], 'held up to the bound');
  outbox.add([1]);
  await clock.advance(20);
  assert.equal((acks as number[][])[0]?.length, HOLD_MAX_ROWS + 1);
  assert.equal(outbox.buffered, 0);
});

it('outbox-acks-async: answers come later; settled() waits for them; a rejection is retried with backoff', async () => {
  const clock = new ManualClock();
  const errors: string[] = [];
  const asked: { rowids: number[]; resolve(): void; reject(e: Error): void }[] = [];
  let recovered = 0;
  const outbox = new OutboxAcks(
    (rowids) => new Promise<void>((resolve, reject) => void asked.push({ rowids, resolve, reject })),
    (e) => errors.push(e.message),
    { clock, maxRows: 100, maxDelayMs: 5, onRecovered: () => recovered++ },
  );
  outbox.add([1, 2]);
  outbox.idle();
  await nextTurn();
  assert.deepEqual(
    asked.map((a) => a.rowids),
    [[1, 2]],
  );
  assert.equal(outbox.underWay, 1);
  let settled = false;
  void outbox.settled().then(() => (settled = true));
  await nextTurn();
  assert.equal(settled, false, 'not before the answer');
  asked[0]!.reject(new Error('database is locked'));
  await nextTurn();
  assert.equal(settled, true);
  assert.equal(outbox.underWay, 0);
  assert.deepEqual(errors, ['database is locked']);
  assert.equal(outbox.failing, true);
  assert.equal(outbox.buffered, 2, 'the rowids wait for the retry');
  await clock.advance(99);
  assert.equal(asked.length, 1, 'no attempt before the backoff');
  await clock.advance(1);
  assert.deepEqual(asked[1]?.rowids, [1, 2]);
  asked[1].resolve();
  await nextTurn();
  assert.equal(outbox.failing, false);
  assert.equal(recovered, 1);
  assert.equal(outbox.buffered, 0);
});
