/**
 * Pending pile commands are bounded (issue 12, Low): a pile that never acknowledges used
 * to collect every command sent to it until it went offline.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MAX_PENDING_COMMANDS, PileMachine } from '../../src/cip22/state/machine.js';

it(`a pile that never acknowledges holds at most ${MAX_PENDING_COMMANDS} commands; more are refused at once`, () => {
  const m = new PileMachine({ heartbeatMs: 1000, upgradeTimeoutMs: 60_000 });
  m.authOk(0);
  for (let i = 0; i < MAX_PENDING_COMMANDS; i++) {
    const effects = m.request(`r${i}`, 'reset');
    assert.equal(effects.filter((e) => e.kind === 'send').length, 1, `command ${i} sent`);
  }
  assert.equal(m.pendingCommands, MAX_PENDING_COMMANDS);
  const over = m.request('over', 'reset');
  assert.deepEqual(over, [
    {
      kind: 'result',
      requestId: 'over',
      command: 'reset',
      ok: false,
      error: `too many pending commands (${MAX_PENDING_COMMANDS})`,
    },
  ]);
  assert.equal(m.pendingCommands, MAX_PENDING_COMMANDS);
  // An acknowledgement frees a place.
  const firstSent = m.request('x', 'reset');
  assert.equal(firstSent[0]?.kind, 'result');
  const acked = m.cmdAck(1, 0, 10);
  assert.ok(acked.some((e) => e.kind === 'result' && e.requestId === 'r0'));
  assert.equal(m.request('after-ack', 'reset').filter((e) => e.kind === 'send').length, 1);
});

it('the bound is configurable', () => {
  const m = new PileMachine({ heartbeatMs: 1000, upgradeTimeoutMs: 60_000, maxPendingCommands: 1 });
  m.authOk(0);
  assert.equal(m.request('a', 'stop')[0]?.kind, 'send');
  assert.equal(m.request('b', 'stop')[0]?.kind, 'result');
});
