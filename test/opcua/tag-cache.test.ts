/**
 * The subscription-mode cache alone (no server): the order of resets, notifications and
 * catch-up Reads, and refused monitored items.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { badValue, goodValue } from '../../src/core/types.js';
import { opcuaTagSchema } from '../../src/drivers/opcua/config.js';
import { TagCache } from '../../src/drivers/opcua/tag-cache.js';

const TAGS = ['a', 'b'].map((name) =>
  opcuaTagSchema.parse({ name, nodeId: `ns=1;s=${name}`, dataType: 'Int32' }),
);
const code = (v: ReturnType<TagCache['value']>) => (v.quality === 'good' ? v.value : v.code);

it('opcua cache: a catch-up Read sent right after a reset fills every tag (no clock involved)', () => {
  const cache = new TagCache(TAGS);
  cache.notified(goodValue('a', 1));
  cache.reset('EDGE_ERR_OPCUA_NO_DATA', 'reconnected');
  // The old cache compared clock readings: a Read taken at the reset's reading filled nothing.
  const mark = cache.mark();
  cache.caughtUp(mark, [goodValue('a', 1), goodValue('b', 2)]);
  assert.deepEqual([code(cache.value('a')), code(cache.value('b'))], [1, 2]);
});

it('opcua cache: a notification newer than the Read wins; one older than the reset is gone', () => {
  const cache = new TagCache(TAGS);
  cache.notified(goodValue('b', 1));
  cache.reset('EDGE_ERR_OPCUA_DISCONNECTED', 'lost');
  assert.equal(code(cache.value('b')), 'EDGE_ERR_OPCUA_DISCONNECTED');
  const mark = cache.mark();
  cache.notified(goodValue('b', 3));
  cache.caughtUp(mark, [goodValue('a', 1), goodValue('b', 2)]);
  assert.deepEqual([code(cache.value('a')), code(cache.value('b'))], [1, 3]);
});

it('opcua cache: a refused monitored item stays bad with its status over any Read, until replaced', () => {
  const cache = new TagCache(TAGS);
  const [a] = TAGS;
  assert.ok(a);
  cache.setRefused([{ tag: a, status: { value: 0x80db0000, name: 'BadTooManyMonitoredItems' } }]);
  cache.caughtUp(cache.mark(), [goodValue('a', 1)]);
  const v = cache.value('a');
  assert.equal(code(v), 'EDGE_ERR_OPCUA_BAD_STATUS');
  assert.match(v.quality === 'bad' ? v.reason : '', /BadTooManyMonitoredItems/);
  cache.setRefused([{ tag: a, status: { value: 0x80340000, name: 'BadNodeIdUnknown' } }]);
  assert.equal(code(cache.value('a')), 'EDGE_ERR_OPCUA_NODE_UNKNOWN');
  cache.setRefused([]);
  assert.equal(code(cache.value('a')), 1);
  assert.equal(code(cache.value('missing')), 'EDGE_ERR_OPCUA_NO_DATA');
  assert.equal(badValue('x', 'EDGE_ERR_OPCUA_NO_DATA', 'r').quality, 'bad');
});
