import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { modbusDeviceSchema, registerCount } from '../../src/drivers/modbus/config.js';
import { demoConfig } from '../../src/demo/config.js';

describe('demoConfig', () => {
  const config = demoConfig({
    modbusPort: 15020,
    mqttUrl: 'mqtt://127.0.0.1:18830',
    dataDir: '/var/tmp/demo',
    httpPort: 0,
  });

  it('has the YAML top-level shape', () => {
    assert.deepEqual(Object.keys(config).sort(), ['agent', 'devices', 'http', 'log', 'mqtt', 'store']);
    assert.equal(config.store.path, join('/var/tmp/demo', 'outbox.db'));
    // The demo's broker is local: plaintext is allowed explicitly (mqtt.allowInsecure).
    assert.deepEqual(config.mqtt, {
      url: 'mqtt://127.0.0.1:18830',
      topicPrefix: 'edge',
      allowInsecure: true,
    });
    assert.deepEqual(config.http, { host: '127.0.0.1', port: 0 });
    assert.equal(demoConfig({ modbusPort: 1, mqttUrl: 'mqtt://h:1', dataDir: '/d' }).http.port, 9464);
    assert.ok(config.devices.length >= 2);
  });

  it('describes devices the Modbus driver schema accepts, without overlapping registers', () => {
    for (const device of config.devices) {
      const parsed = modbusDeviceSchema.safeParse(device);
      assert.ok(parsed.success, `${device.name}: ${parsed.success ? '' : parsed.error.message}`);
      assert.deepEqual(device.connection, { transport: 'tcp', host: '127.0.0.1', port: 15020 });
      const used = new Map<string, string>();
      for (const tag of device.tags) {
        const words =
          tag.function === 'coil' || tag.function === 'discrete' ? 1 : registerCount(tag.type, tag.length);
        for (let i = 0; i < words; i++) {
          const key = `${tag.function}:${tag.address + i}`;
          assert.equal(used.get(key), undefined, `${device.name}.${tag.name} overlaps ${used.get(key)}`);
          used.set(key, tag.name);
        }
      }
    }
  });

  it('returns a fresh plain object each time (JSON round-trips)', () => {
    const a = demoConfig({ modbusPort: 1, mqttUrl: 'mqtt://h:1', dataDir: '/d' });
    const b = demoConfig({ modbusPort: 1, mqttUrl: 'mqtt://h:1', dataDir: '/d' });
    assert.notEqual(a.devices, b.devices);
    assert.deepEqual(JSON.parse(JSON.stringify(a)), a);
  });
});
