/** PUBACKed rowids reach the outbox merged: one ack() per event-loop turn, or at once on flush(). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { OutboxAcks } from '../../src/forwarders/mqtt/outbox-acks.js';

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

it('outbox-acks-merged: PUBACKs of one turn become one ack, flush acks what is buffered at once', async () => {
  const acks: number[][] = [];
  const errors: string[] = [];
  const outbox = new OutboxAcks(
    (rowids) => acks.push(rowids),
    (e) => errors.push(e.message),
  );
  outbox.add([1, 2]);
  outbox.add([3]);
  assert.deepEqual(acks, [], 'nothing acked before the turn ends');
  await nextTurn();
  assert.deepEqual(acks, [[1, 2, 3]]);
  outbox.add([4]);
  outbox.flush();
  assert.deepEqual(acks, [[1, 2, 3], [4]]);
  await nextTurn();
  assert.equal(acks.length, 2, 'a flush cancels the pending turn');
  assert.deepEqual(errors, []);
});

it('outbox-acks-failure: a failed ack is reported and its rowids are not acked again', async () => {
  const errors: string[] = [];
  let calls = 0;
  const outbox = new OutboxAcks(
    () => {
      calls++;
      throw new Error('disk I/O error');
    },
    (e) => errors.push(e.message),
  );
  outbox.add([7]);
  await nextTurn();
  outbox.flush();
  assert.equal(calls, 1);
  assert.deepEqual(errors, ['disk I/O error']);
});
