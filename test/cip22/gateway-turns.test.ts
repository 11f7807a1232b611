/**
 * Issue 16: no event-loop turn of a handshake longer than 1 ms. With a threaded pool a
 * P-256 AUTH_RESP used to run its chain, AUTH signature, ECDH, key derivation and AUTH_OK
 * in the frame's turn (~1.5 ms of CPU on the loaded bench box); now the signature and
 * ECDH, then the keys and AUTH_OK, run in check phases (setImmediate) of their own.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CountingSink, InprocPile, StillClock, inprocGateway } from './inproc-pile.js';

const nextCheckPhase = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('P-256 AUTH_RESP with worker threads: the chain in the frame turn, the signature and AUTH_OK in later check phases', async (t) => {
  const gateway = inprocGateway(new StillClock(), new CountingSink(), { verify: { workers: 1 } });
  t.after(() => gateway.stop());
  const pile = new InprocPile(gateway);
  assert.equal(pile.handshake('p256'), false, 'not open when the AUTH_RESP push returns');
  assert.deepEqual(
    pile.inbox.map((m) => m.type),
    ['CHALLENGE'],
  );
  for (let i = 0; i < 3 && !pile.session.isOpen; i++) await nextCheckPhase();
  assert.equal(pile.session.isOpen, true);
  assert.ok(pile.inbox.some((m) => m.type === 'AUTH_OK'));
});

test('a session closed between the two halves gets no AUTH_OK and nothing throws', async (t) => {
  const gateway = inprocGateway(new StillClock(), new CountingSink(), { verify: { workers: 1 } });
  t.after(() => gateway.stop());
  const pile = new InprocPile(gateway);
  pile.handshake('p256');
  pile.session.close('test-closed');
  for (let i = 0; i < 3; i++) await nextCheckPhase();
  assert.equal(pile.session.isOpen, false);
  assert.equal(pile.session.endReason, 'test-closed');
  assert.ok(!pile.inbox.some((m) => m.type === 'AUTH_OK'));
});

test('without worker threads (verify.workers 0) an in-process handshake still completes within push()', async (t) => {
  const gateway = inprocGateway(new StillClock(), new CountingSink());
  t.after(() => gateway.stop());
  assert.equal(new InprocPile(gateway).handshake('p256'), true);
});
