/**
 * RowidSet (the delivered rows' set, sqlite-delivered.ts) answers as a Set<number> would:
 * add, delete, has and size through random operations across page edges, and sorted()
 * gives every member ascending.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PAGE_ROWIDS, RowidSet } from '../../src/store/rowid-set.js';

/** xorshift32: the same operations every run. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

test('rowid-set-as-set: random adds and deletes answer as a Set<number>, sorted() ascending', () => {
  const rnd = random(0x5eed);
  const set = new RowidSet();
  const ref = new Set<number>();
  // Dense across page edges, sparse far out, and a few past 2^32.
  const pick = (): number => {
    const r = rnd();
    if (r < 0.7) return Math.floor(rnd() * 5000);
    if (r < 0.9) return PAGE_ROWIDS * Math.floor(rnd() * 32) + Math.floor(rnd() * 3) - 1;
    return 2 ** 32 + Math.floor(rnd() * 3000);
  };
  for (let i = 0; i < 20_000; i++) {
    const rowid = Math.max(0, pick());
    if (rnd() < 0.55) {
      set.add(rowid);
      ref.add(rowid);
    } else assert.equal(set.delete(rowid), ref.delete(rowid), `delete ${rowid}`);
    assert.equal(set.size, ref.size);
    const probe = Math.max(0, pick());
    assert.equal(set.has(probe), ref.has(probe), `has ${probe}`);
  }
  assert.deepEqual(
    [...set.sorted()],
    [...ref].sort((a, b) => a - b),
  );
  for (const rowid of ref) set.delete(rowid);
  assert.equal(set.size, 0);
  assert.deepEqual([...set.sorted()], []);
});

test('rowid-set-edges: page edges, negatives and duplicates; a rowid that is not a safe integer is refused', () => {
  const set = new RowidSet();
  for (const rowid of [1023, 1024, 0, -1, -1024, -1025, 1024, 2 ** 53 - 1]) set.add(rowid);
  assert.equal(set.size, 7, 'the second 1024 adds nothing');
  assert.deepEqual([...set.sorted()], [-1025, -1024, -1, 0, 1023, 1024, 2 ** 53 - 1]);
  assert.equal(set.has(1025), false);
  assert.equal(set.delete(1025), false);
  assert.equal(set.delete(1024), true);
  assert.equal(set.has(1024), false);
  assert.equal(set.has(1023), true, 'its neighbour in the page before is kept');
  assert.throws(() => set.add(1.5), RangeError);
  assert.throws(() => set.has(2 ** 53), RangeError);
  assert.equal(set.size, 6);
});
