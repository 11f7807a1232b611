/**
 * The per-transaction caches of the poll path never hand out a stale plan or request:
 * a names array changed in place between polls is planned afresh, and a cached RTU request
 * is byte for byte the one buildReadRequest makes, distinct for every distinct read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { TagValue } from '../../src/core/types.js';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import { buildReadRequest, type ReadFunctionCode } from '../../src/drivers/modbus/rtu/frame.js';
import { ReadRequests } from '../../src/drivers/modbus/rtu/request-cache.js';
import { fakeTransports } from './fake-transport.js';

async function settle<T>(clock: ManualClock, p: Promise<T>): Promise<T> {
  let out: { v: T } | undefined;
  void p.then((v) => (out = { v }));
  for (let i = 0; !out && i < 1000; i++) await clock.advance(10);
  assert.ok(out, 'promise did not settle');
  return out.v;
}

const values = (vs: readonly TagValue[]) => vs.map((v) => (v.quality === 'good' ? v.value : v.code));

test('poll-names-changed-in-place: the same array, other names, reads the other tags', async () => {
  const clock = new ManualClock();
  const family = createModbusFamily(
    { clock, logger: silentLogger, random: () => 1 },
    { transportFactory: fakeTransports(clock, { 1: { holding: { 0: 10, 1: 11, 7: 17 } } }) },
  );
  const d = family.create(
    modbusDeviceSchema.parse({
      name: 'dev',
      driver: 'modbus',
      connection: { transport: 'tcp', host: 'gw', port: 502 },
      tags: [
        { name: 'a', function: 'holding', address: 0 },
        { name: 'b', function: 'holding', address: 1 },
        { name: 'c', function: 'holding', address: 7 },
      ],
    }),
  );
  d.init();
  await settle(clock, d.start());
  const names = ['a', 'b'];
  assert.deepEqual(values(await settle(clock, d.poll(names))), [10, 11]);
  assert.deepEqual(values(await settle(clock, d.poll(names))), [10, 11]);
  names[1] = 'c'; // a caller reusing its array: the plan of ['a', 'b'] must not be reused
  assert.deepEqual(values(await settle(clock, d.poll(names))), [10, 17]);
  names.push('b');
  assert.deepEqual(values(await settle(clock, d.poll(names))), [10, 17, 11]);
  assert.deepEqual(values(await settle(clock, d.poll(['a', 'b']))), [10, 11]);
  await family.close();
});

test('rtu-request-cache: cached bytes equal buildReadRequest for every read, distinct per read', () => {
  const cache = new ReadRequests();
  let reads = 0;
  for (const unit of [0, 1, 5, 247, 255])
    for (const fn of [1, 2, 3, 4] as ReadFunctionCode[])
      for (const address of [0, 1, 0x00ff, 0x0100, 0xffff])
        for (const count of [1, 2, 10, 125, ...(fn <= 2 ? [126, 2000] : [])]) {
          const expected = buildReadRequest(unit, fn, address, count);
          const first = cache.get(unit, fn, address, count);
          assert.deepEqual(first, expected, `${unit}/${fn}/${address}/${count}`);
          assert.equal(cache.get(unit, fn, address, count), first, 'the second ask gets the same buffer');
          reads++;
        }
  assert.ok(reads > 256, 'more distinct reads than the cache keeps: it was dropped and rebuilt');
});

test('rtu-request-cache: a read out of range throws, also after in-range reads were cached', () => {
  const cache = new ReadRequests();
  cache.get(1, 3, 0, 10);
  assert.throws(() => cache.get(1, 3, 0, 126), RangeError);
  assert.throws(() => cache.get(1, 3, 0x10000, 10), RangeError);
  assert.throws(() => cache.get(256, 3, 0, 10), RangeError);
  assert.throws(() => cache.get(1, 3, 1.5, 10), RangeError);
  assert.throws(() => cache.get(1, 1, 0, 2001), RangeError);
  assert.throws(() => cache.get(1, 3, 0, 0), RangeError);
});
