/**
 * `BENCH_ROUNDS=0 npm run bench -- cip22-handshake` crashed on the median of no rounds:
 * round counts from the environment are now checked where they are read, with an error
 * that names the variable.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { envCount, envNumber, median, pairedRatio } from '../../scripts/bench/common.js';

test('bench-rounds-zero-refused: BENCH_ROUNDS=0 is refused by name, not a crash on an empty median', () => {
  assert.throws(
    () => envCount('BENCH_ROUNDS', 3, 1, { BENCH_ROUNDS: '0' }),
    /BENCH_ROUNDS="0": expected an integer >= 1/,
  );
  for (const bad of ['-2', '1.5', 'abc', 'NaN'])
    assert.throws(() => envCount('BENCH_ROUNDS', 3, 1, { BENCH_ROUNDS: bad }), /BENCH_ROUNDS/, bad);
  assert.equal(envCount('BENCH_ROUNDS', 3, 1, {}), 3);
  assert.equal(envCount('BENCH_ROUNDS', 3, 1, { BENCH_ROUNDS: '' }), 3);
  assert.equal(envCount('BENCH_ROUNDS', 3, 1, { BENCH_ROUNDS: '1' }), 1);
  assert.throws(() => median([]), /no values/);
  assert.equal(median([3, 1, 2]), 2);
});

test('bench-env-numbers-checked: a duration or size that is not a number is refused by name', () => {
  assert.throws(
    () => envNumber('BENCH_COMMIT_SECONDS', 1.5, 0.1, { BENCH_COMMIT_SECONDS: 'abc' }),
    /BENCH_COMMIT_SECONDS="abc": expected a number >= 0.1/,
  );
  for (const bad of ['0', '-1', 'Infinity'])
    assert.throws(() => envNumber('X', 1, 0.1, { X: bad }), /X=/, bad);
  assert.equal(envNumber('X', 1.5, 0.1, {}), 1.5);
  assert.equal(envNumber('X', 1.5, 0.1, { X: '0.25' }), 0.25);
});

test('bench-paired-ratio: the median of per-round ratios, rounds paired as they ran', () => {
  // round 2 ran under load on both sides: the paired ratios stay near 90 %
  assert.equal(pairedRatio([90, 45, 91], [100, 50, 100]), 90);
  assert.equal(pairedRatio([50, 100], [100, 100]), 75);
  assert.throws(() => pairedRatio([], []), /no values/);
});
