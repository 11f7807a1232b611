/** diffConfig: what a new config changes, and which of it needs a restart. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateConfig } from '../../src/config/load.js';
import type { EdgeConfig } from '../../src/config/schema.js';
import { changedPaths, diffConfig, stableJson } from '../../src/reload/diff.js';

const tcp = (name: string, port: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name,
  driver: 'modbus',
  connection: { transport: 'tcp', host: '127.0.0.1', port },
  intervalMs: 1000,
  tags: [{ name: 't0', function: 'holding', address: 0, type: 'u16' }],
  ...extra,
});

function config(raw: Record<string, unknown>): EdgeConfig {
  const result = validateConfig(raw);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.issues));
  return result.config;
}

describe('diffConfig', () => {
  const base = { devices: [tcp('a', 1502), tcp('b', 1503), tcp('c', 1504)] };

  it('sorts devices into added, removed, changed (with the keys) and unchanged', () => {
    const next = {
      devices: [tcp('a', 1502), tcp('b', 1503, { intervalMs: 500 }), tcp('d', 1505)],
    };
    const plan = diffConfig(config(base), config(next));
    assert.deepEqual(plan.devices.unchanged, ['a']);
    assert.deepEqual(plan.devices.added, ['d']);
    assert.deepEqual(plan.devices.removed, ['c']);
    assert.deepEqual(plan.devices.changed, [{ name: 'b', paths: ['intervalMs'] }]);
    assert.deepEqual(plan.restart, []);
    assert.equal(plan.empty, false);
  });

  it('an identical config (other key order) is empty', () => {
    const reordered = { devices: base.devices.map((d) => Object.fromEntries(Object.entries(d).reverse())) };
    const plan = diffConfig(config(base), config(reordered));
    assert.equal(plan.empty, true);
    assert.deepEqual(plan.devices.unchanged, ['a', 'b', 'c']);
  });

  it('store, mqtt and agent keys need a restart and are named by path', () => {
    const next = {
      ...base,
      store: { path: '/tmp/other.db' },
      mqtt: { url: 'mqtt://127.0.0.1:1', allowInsecure: true },
    };
    const plan = diffConfig(config(base), config(next));
    assert.ok(plan.restart.includes('store.path'), plan.restart.join());
    assert.ok(plan.restart.includes('mqtt.url'), plan.restart.join());
    assert.deepEqual(plan.mqtt, ['mqtt.allowInsecure', 'mqtt.url']);
    assert.equal(plan.devices.changed.length, 0);
  });

  it('a broker change is live while there is a broker before and after', () => {
    const a = config({ ...base, mqtt: { url: 'mqtt://127.0.0.1:1883', allowInsecure: true } });
    const b = config({ ...base, mqtt: { url: 'mqtt://10.0.0.1:1883', allowInsecure: true } });
    const plan = diffConfig(a, b);
    assert.deepEqual(plan.mqtt, ['mqtt.url']);
    assert.deepEqual(plan.restart, []);
  });

  it('the reload section is local: a pushed one changes nothing', () => {
    const plan = diffConfig(config(base), config({ ...base, reload: { trialWindowSec: 5 } }));
    assert.equal(plan.empty, true);
    assert.deepEqual(plan.restart, []);
  });

  it('a shared RS-485 path whose serial settings change needs a restart; a tag change does not', () => {
    const rtu = (name: string, baudRate: number, address = 0): Record<string, unknown> => ({
      name,
      driver: 'modbus',
      connection: { transport: 'rtu', path: '/dev/ttyUSB0', baudRate },
      tags: [{ name: 't0', function: 'holding', address, type: 'u16' }],
    });
    const before = config({ devices: [rtu('x', 9600), rtu('y', 9600)] });
    const tagOnly = diffConfig(before, config({ devices: [rtu('x', 9600), rtu('y', 9600, 5)] }));
    assert.deepEqual(tagOnly.restart, []);
    assert.deepEqual(
      tagOnly.devices.changed.map((c) => c.name),
      ['y'],
    );
    const baud = diffConfig(before, config({ devices: [rtu('x', 19200), rtu('y', 19200)] }));
    assert.deepEqual(baud.restart, ['devices (line rtu:/dev/ttyUSB0: connection settings)']);
  });

  it('S7 connections and DTU links are compared by name', () => {
    const s7 = (name: string, host: string): Record<string, unknown> => ({
      name,
      driver: 's7',
      connection: { host, rack: 0, slot: 1 },
      tags: [{ name: 't', address: 'DB1,INT0' }],
    });
    const plan = diffConfig(
      config({ devices: [s7('p1', '10.0.0.1'), s7('p2', '10.0.0.2')] }),
      config({ devices: [s7('p1', '10.0.0.9'), s7('p2', '10.0.0.2')] }),
    );
    assert.deepEqual(plan.s7, { added: [], removed: [], changed: ['p1'] });
  });

  it('a TCP DTU link or listener change is live and re-creates the devices of a link; UDP links restart', () => {
    const link = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
      name,
      mode: 'server',
      registration: { ascii: name },
      ...extra,
    });
    const dev = (name: string, dtu: string): Record<string, unknown> => ({
      ...tcp(name, 0),
      connection: { transport: 'dtu', dtu },
    });
    const at = (links: unknown[], devices: unknown[], server: Record<string, unknown> = {}): EdgeConfig =>
      config({ dtu: { server: { host: '127.0.0.1', port: 9000, ...server }, links }, devices });
    const v1 = at([link('a'), link('b')], [dev('ma', 'a'), dev('mb', 'b')]);
    const changed = diffConfig(
      v1,
      at([link('a'), link('b', { missedHeartbeats: 5 })], [dev('ma', 'a'), dev('mb', 'b')]),
    );
    assert.deepEqual(changed.restart, []);
    assert.deepEqual(changed.dtu, { added: [], removed: [], changed: ['b'], server: false });
    assert.deepEqual(changed.devices.changed, [{ name: 'mb', paths: ['dtu.links[b]'] }]);
    assert.deepEqual(changed.devices.unchanged, ['ma']);
    const swapped = diffConfig(v1, at([link('a'), link('c')], [dev('ma', 'a'), dev('mc', 'c')]));
    assert.deepEqual(swapped.restart, []);
    assert.deepEqual([swapped.dtu.added, swapped.dtu.removed], [['c'], ['b']]);
    const listener = diffConfig(
      v1,
      at([link('a'), link('b')], [dev('ma', 'a'), dev('mb', 'b')], { port: 9001 }),
    );
    assert.deepEqual([listener.restart, listener.dtu.server], [[], true]);
    const udp = diffConfig(
      v1,
      config({
        dtu: {
          server: { host: '127.0.0.1', port: 9000 },
          udpServer: { host: '127.0.0.1', port: 9000 },
          links: [link('a'), link('b', { transport: 'udp' })],
        },
        devices: [dev('ma', 'a'), dev('mb', 'b')],
      }),
    );
    assert.ok(
      udp.restart.some((k) => k.startsWith('dtu.')),
      udp.restart.join(),
    );
  });

  it('changedPaths and stableJson', () => {
    assert.deepEqual(changedPaths({ a: 1, b: { c: 2 } }, { a: 1, b: { c: 3 } }), ['b.c']);
    assert.equal(stableJson({ b: 1, a: [{ d: 1, c: 2 }] }), '{"a":[{"c":2,"d":1}],"b":1}');
  });
});
