import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { DeadlineTimer } from '../../src/core/deadline-timer.js';

it('deadline-timer-lazy: a later deadline costs no timer; an earlier one replaces it; cancel stops it', async () => {
  const clock = new ManualClock();
  const fired: number[] = [];
  const timer = new DeadlineTimer(clock, () => fired.push(clock.monotonic()));
  const t0 = clock.monotonic();
  timer.arm(t0 + 100);
  timer.arm(t0 + 300); // later: the earlier one fires first, the owner re-arms then
  assert.equal(clock.pendingCount, 1);
  timer.arm(t0 + 50); // earlier: replaces the pending timer
  assert.equal(clock.pendingCount, 1);
  await clock.advance(49);
  assert.deepEqual(fired, []);
  await clock.advance(1);
  assert.deepEqual(fired, [t0 + 50]);
  timer.arm(t0 + 300); // armed again after firing
  timer.cancel();
  await clock.advance(1000);
  assert.deepEqual(fired, [t0 + 50]);
  assert.equal(clock.pendingCount, 0);
});
