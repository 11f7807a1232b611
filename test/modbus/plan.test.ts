import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EdgeError } from '../../src/core/errors.js';
import {
  planRequests,
  Planner,
  checkTagsFit,
  type PlanLimits,
  type PlanTag,
} from '../../src/drivers/modbus/plan.js';

const limits: PlanLimits = { maxRegistersPerRequest: 125, maxBitsPerRequest: 2000, maxGap: 0 };

function reg(
  name: string,
  address: number,
  type: PlanTag['type'] = 'u16',
  fn: PlanTag['function'] = 'holding',
  length?: number,
): PlanTag {
  return { name, function: fn, address, type, length };
}

const shape = (rs: ReturnType<typeof planRequests>) =>
  rs.map((r) => [r.function, r.address, r.length, r.tags.map((t) => `${t.tag.name}@${t.offset}`)]);

test('10 adjacent registers: one request', () => {
  const tags = Array.from({ length: 10 }, (_, i) => reg(`t${i}`, 100 + i));
  const rs = planRequests(tags.reverse(), limits);
  assert.equal(rs.length, 1);
  assert.deepEqual([rs[0]!.address, rs[0]!.length], [100, 10]);
  assert.deepEqual(
    rs[0]!.tags.map((t) => t.offset),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
});

test('a 130-register span needs two requests; a tag is never split', () => {
  const tags = Array.from({ length: 65 }, (_, i) => reg(`f${i}`, i * 2, 'f32'));
  const rs = planRequests(tags, limits);
  assert.equal(rs.length, 2);
  assert.deepEqual([rs[0]!.address, rs[0]!.length, rs[1]!.address, rs[1]!.length], [0, 124, 124, 6]);
  // f32 at 124 would straddle 125: it starts the second request
  const limit10 = planRequests([reg('a', 0, 'f64'), reg('b', 4, 'f64'), reg('c', 8, 'f32')], {
    ...limits,
    maxRegistersPerRequest: 9,
  });
  assert.deepEqual(shape(limit10), [
    ['holding', 0, 8, ['a@0', 'b@4']],
    ['holding', 8, 2, ['c@0']],
  ]);
});

test('gaps: maxGap 0 splits on a hole, maxGap n spans it', () => {
  const tags = [reg('a', 0), reg('b', 1), reg('c', 5), reg('d', 20)];
  assert.equal(planRequests(tags, limits).length, 3);
  assert.deepEqual(shape(planRequests(tags, { ...limits, maxGap: 3 })), [
    ['holding', 0, 6, ['a@0', 'b@1', 'c@5']],
    ['holding', 20, 1, ['d@0']],
  ]);
  assert.equal(planRequests(tags, { ...limits, maxGap: 14 }).length, 1);
  assert.equal(planRequests(tags, { ...limits, maxGap: 13 }).length, 2);
});

test('bits: 2000 per request, and the configured limit', () => {
  const coils = Array.from({ length: 2001 }, (_, i) => reg(`c${i}`, i, 'bool', 'coil'));
  const rs = planRequests(coils, limits);
  assert.deepEqual(
    rs.map((r) => [r.address, r.length]),
    [
      [0, 2000],
      [2000, 1],
    ],
  );
  const small = planRequests(coils.slice(0, 20), { ...limits, maxBitsPerRequest: 8 });
  assert.deepEqual(
    small.map((r) => [r.address, r.length]),
    [
      [0, 8],
      [8, 8],
      [16, 4],
    ],
  );
});

test('functions are planned separately, in a fixed order; overlapping tags share registers', () => {
  const tags = [
    reg('i', 0, 'u16', 'input'),
    reg('h', 0),
    reg('d', 0, 'bool', 'discrete'),
    reg('c', 0, 'bool', 'coil'),
    reg('hb', 0, 'bool'),
    reg('h32', 0, 'u32'),
  ];
  const rs = planRequests(tags, limits);
  assert.deepEqual(
    rs.map((r) => [r.function, r.address, r.length, r.tags.length]),
    [
      ['coil', 0, 1, 1],
      ['discrete', 0, 1, 1],
      ['holding', 0, 2, 3],
      ['input', 0, 1, 1],
    ],
  );
});

test('string tags take their length', () => {
  const rs = planRequests([reg('s', 10, 'string', 'holding', 8), reg('n', 18)], limits);
  assert.deepEqual(shape(rs), [['holding', 10, 9, ['s@0', 'n@8']]]);
});

test('Planner caches per due set', () => {
  const p = new Planner([reg('a', 0), reg('b', 1), reg('c', 50)], limits);
  const first = p.plan(['b', 'a']);
  assert.equal(p.plan(['a', 'b']), first);
  assert.equal(p.computed, 1);
  p.plan(['a', 'c']);
  assert.equal(p.computed, 2);
  assert.equal(p.cacheSize, 2);
});

test('checkTagsFit rejects a tag larger than a request', () => {
  assert.throws(
    () => checkTagsFit([reg('s', 0, 'string', 'holding', 20)], { ...limits, maxRegistersPerRequest: 10 }),
    (e: EdgeError) => e.code === 'EDGE_ERR_CONFIG_INVALID' && e.context.field === 'tags[0].length',
  );
});
