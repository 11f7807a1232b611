/** Address syntax, value codec and read planning (pure). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { byteLength, elementAddress, parseS7Address, type S7Address } from '../../src/drivers/s7/address.js';
import { decodePoint, encodePoint, type S7Point } from '../../src/drivers/s7/codec.js';
import { minimumRequests, packRequests, planItems, type PlanLimits } from '../../src/drivers/s7/plan.js';
import { validateConfig } from '../../src/config/load.js';

function addr(text: string): S7Address {
  const r = parseS7Address(text);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.address;
}

const point = (name: string, text: string, extra: Partial<S7Point> = {}): S7Point => ({
  name,
  tag: name,
  address: addr(text),
  scale: 1,
  offset: 0,
  intervalMs: 1000,
  ...extra,
});

describe('S7 addresses', () => {
  it('parses DB, I/Q/M/P, timers and counters in nodes7 syntax', () => {
    const cases: [string, Partial<S7Address>][] = [
      ['DB1,INT4', { area: 'DB', db: 1, start: 4, type: 'INT', count: 1 }],
      ['DB2,X3.7', { area: 'DB', db: 2, start: 3, bit: 7, type: 'BOOL' }],
      ['DB1,X0.6.4', { type: 'BOOL', bit: 6, count: 4, isArray: true }],
      ['DB1,REAL8.10', { type: 'REAL', count: 10, isArray: true }],
      ['DB1,S10.20', { type: 'STRING', strLen: 20, count: 1 }],
      ['db1,lreal0', { type: 'LREAL' }],
      ['DB1,DW4', { type: 'DWORD' }],
      ['DB1,DI4', { type: 'DINT' }],
      ['I0.1', { area: 'I', type: 'BOOL', bit: 1 }],
      ['E1.0', { area: 'I', start: 1 }],
      ['QW2', { area: 'Q', type: 'WORD', start: 2 }],
      ['MB10', { area: 'M', type: 'BYTE', start: 10 }],
      ['MR4', { area: 'M', type: 'REAL' }],
      ['ID0', { area: 'I', type: 'DWORD' }],
      ['MDI8', { area: 'M', type: 'DINT' }],
      ['PIW256', { area: 'P', type: 'WORD', start: 256 }],
      ['T5', { area: 'T', type: 'TIMER', start: 5 }],
      ['C3', { area: 'C', type: 'COUNTER', start: 3 }],
    ];
    for (const [text, expected] of cases) {
      const a = addr(text);
      for (const [k, v] of Object.entries(expected)) assert.equal(a[k as keyof S7Address], v, `${text}.${k}`);
    }
    assert.equal(byteLength(addr('DB1,X0.6.4')), 2);
    assert.equal(byteLength(addr('DB1,S10.20.3')), 66);
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => {
        const e = elementAddress(addr('DB1,X0.6.4'), i);
        return [e.start, e.bit];
      }),
      [
        [0, 6],
        [0, 7],
        [1, 0],
        [1, 1],
      ],
    );
  });

  it('explains what is wrong with an address', () => {
    const bad: [string, RegExp][] = [
      ['DB1,INT', /missing byte offset/],
      ['DB1,FOO4', /unknown data type "FOO"/],
      ['DB0,INT0', /outside 1\.\.65535/],
      ['DB1,X0.8', /bit 8 is outside 0\.\.7/],
      ['DB1,X0', /needs the bit/],
      ['DB1,S0', /declared length/],
      ['DB1,INT0.0', /zero-length/],
      ['PI0.1', /no bit access/],
      ['Z9', /not an S7 address/],
      ['DB1,INT65535', /past byte/],
    ];
    for (const [text, why] of bad) {
      const r = parseS7Address(text);
      assert.ok(!r.ok, text);
      assert.match(r.reason, why, text);
    }
  });

  it('config errors name devices[i].tags[j].address', () => {
    const result = validateConfig({
      devices: [
        {
          name: 'plc',
          driver: 's7',
          connection: { host: '10.0.0.5' },
          tags: [
            { name: 'ok', address: 'DB1,INT0' },
            { name: 'typo', address: 'DB1,INTT4' },
          ],
        },
      ],
    });
    assert.ok(!result.ok);
    assert.ok(
      result.issues.some((i) => i.path === 'devices[0].tags[1].address' && /INTT/.test(i.message)),
      JSON.stringify(result.issues),
    );
  });
});

describe('S7 value codec', () => {
  it('decodes every type big-endian, with scale/offset and without float noise', () => {
    const b = (hex: string): Buffer => Buffer.from(hex, 'hex');
    assert.equal(decodePoint(point('x', 'DB1,X0.3'), b('08')).value, true);
    assert.equal(decodePoint(point('x', 'DB1,BYTE0'), b('ff')).value, 255);
    assert.equal(decodePoint(point('x', 'DB1,C0'), b('41')).value, 'A');
    assert.equal(decodePoint(point('x', 'DB1,WORD0'), b('fffe')).value, 65534);
    assert.equal(decodePoint(point('x', 'DB1,INT0'), b('fffe')).value, -2);
    assert.equal(decodePoint(point('x', 'DB1,DWORD0'), b('fffffffe')).value, 4294967294);
    assert.equal(decodePoint(point('x', 'DB1,DINT0'), b('fffffffe')).value, -2);
    assert.equal(decodePoint(point('x', 'DB1,REAL0'), b('42483333')).value, 50.05);
    assert.equal(decodePoint(point('x', 'DB1,LREAL0'), b('400921fb54442d18')).value, Math.PI);
    assert.equal(decodePoint(point('x', 'DB1,LI0'), b('fffffffffffffffe')).value, -2);
    assert.equal(decodePoint(point('x', 'DB1,S0.8'), b('0803414243000000000000')).value, 'ABC');
    assert.equal(decodePoint(point('x', 'DB1,INT0', { scale: 0.1, offset: 1 }), b('08fd')).value, 231.1);
    assert.equal(decodePoint(point('x', 'DB1,REAL0'), b('7fc00000')).quality, 'bad');
    const badString = decodePoint(point('x', 'DB1,S0.2'), b('020900'));
    assert.ok(badString.quality === 'bad' && badString.code === 'EDGE_ERR_S7_DECODE');
  });

  it('encodes writes in tag units and refuses what does not fit', () => {
    assert.deepEqual(encodePoint(point('x', 'DB1,INT0', { scale: 0.1 }), 23.4), Buffer.from([0, 234]));
    assert.deepEqual(encodePoint(point('x', 'DB1,X0.1'), true), Buffer.from([1]));
    assert.deepEqual(encodePoint(point('x', 'DB1,S0.5'), 'hi'), Buffer.from([5, 2, 0x68, 0x69]));
    assert.match(String(encodePoint(point('x', 'DB1,INT0'), 40000)), /outside the INT range/);
    assert.match(String(encodePoint(point('x', 'DB1,INT0'), 1.5)), /not a whole/);
    assert.match(String(encodePoint(point('x', 'DB1,X0.1'), 1)), /expects a boolean/);
    assert.match(String(encodePoint(point('x', 'DB1,REAL0'), '3')), /expects a finite number/);
    assert.match(String(encodePoint(point('x', 'DB1,S0.2'), 'long')), /exceed the declared STRING\[2\]/);
  });
});

describe('S7 read planning', () => {
  const limits: PlanLimits = { pduSize: 240, maxItems: 20, maxGap: 4 };

  it('merges neighbours within maxGap in the same DB, never across DBs or areas', () => {
    const items = planItems(
      [
        point('a', 'DB1,INT0'),
        point('b', 'DB1,INT6'),
        point('c', 'DB1,INT20'),
        point('d', 'DB2,INT2'),
        point('e', 'MW2'),
        point('f', 'DB1,X7.1'),
      ],
      limits,
    );
    assert.deepEqual(
      items.map((i) => [
        i.spec.areaCode,
        i.spec.db,
        i.spec.start,
        i.spec.length,
        i.parts.map((p) => p.point.name).join(''),
      ]),
      [
        [0x83, 0, 2, 2, 'e'],
        [0x84, 1, 0, 8, 'abf'],
        [0x84, 1, 20, 2, 'c'],
        [0x84, 2, 2, 2, 'd'],
      ],
    );
    assert.equal(planItems([point('a', 'DB1,INT0'), point('b', 'DB1,INT6')], limits, false).length, 2);
  });

  it('fragments a value larger than one answer and packs by response bytes', () => {
    const big = planItems([point('s', 'DB1,S0.254')], limits); // 256 bytes > 240 - 18
    assert.deepEqual(
      big.map((i) => [i.spec.start, i.spec.length]),
      [
        [0, 222],
        [222, 34],
      ],
    );
    assert.equal(packRequests(big, limits).length, 2);
  });

  it('packs 500 scattered INTs into the fewest requests the item cap allows', () => {
    const points = Array.from({ length: 500 }, (_, i) => point(`t${i}`, `DB1,INT${i * 10}`));
    const items = planItems(points, limits);
    const requests = packRequests(items, limits);
    assert.equal(items.length, 500);
    assert.equal(requests.length, minimumRequests(items, limits));
    assert.equal(requests.length, 27); // 19 items per 240-byte request PDU (12 + 12 × 19 = 240)
    for (const r of requests) assert.ok(12 + 12 * r.items.length <= 240);
  });
});
