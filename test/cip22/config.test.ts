import assert from 'node:assert/strict';
import { it } from 'node:test';
import { cip22Schema } from '../../src/cip22/config.js';
import { configSchema } from '../../src/config/schema.js';

it('cip22 is off by default with the spec defaults, and commands are refused unless allowed', () => {
  const c = configSchema.parse({}).cip22;
  assert.equal(c.enabled, false);
  assert.equal(c.port, 7722);
  assert.equal(c.maxPayload, 4096);
  assert.deepEqual(c.versions, ['2.0'], 'v1.2 (unsealed frames) is off unless configured');
  assert.deepEqual(c.allowCommands, []);
});

it('enabling cip22 requires an explicit host, TLS material and a pinned root', () => {
  const r = cip22Schema.safeParse({ enabled: true });
  assert.equal(r.success, false);
  const paths = r.error?.issues.map((i) => i.path.join('.')).sort();
  assert.deepEqual(paths, ['host', 'roots', 'tls']);
  const ok = cip22Schema.parse({
    enabled: true,
    host: '192.168.10.1',
    tls: { cert: 'gw.pem', key: { file: 'gw.key' } },
    roots: ['root.pem'],
  });
  assert.equal(ok.host, '192.168.10.1');
});

it('rejects a tariff window that ends before it starts and a pile id that cannot be a topic level', () => {
  assert.equal(
    cip22Schema.safeParse({
      policy: { windows: [{ startMinute: 60, endMinute: 60, priceMilli: 1, maxCurrentMa: 1 }] },
    }).success,
    true,
    'checked only when enabled',
  );
  const bad = cip22Schema.safeParse({
    enabled: true,
    host: '0.0.0.0',
    tls: { cert: 'c', key: { file: 'k' } },
    roots: ['r'],
    policy: { windows: [{ startMinute: 60, endMinute: 60, priceMilli: 1, maxCurrentMa: 1 }] },
  });
  assert.deepEqual(
    bad.error?.issues.map((i) => i.path.join('.')),
    ['policy.windows.0.endMinute'],
  );
  assert.equal(cip22Schema.safeParse({ piles: { 'a/b': { identity: 'sm2' } } }).success, false);
});
