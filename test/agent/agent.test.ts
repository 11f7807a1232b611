/**
 * The whole agent, as the CLI runs it, against a real Modbus TCP server and a real
 * mosquitto: values decoded and forwarded with ids and sequences, the status endpoint,
 * TLS 1.3 with a client certificate, and a clean SIGTERM shutdown inside 5 s.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { demoConfig } from '../../src/demo/config.js';
import { startSimulatedModbusServer, type SimulatedModbusServer } from '../../src/demo/simulator.js';
import { createTestCerts, type TestCerts } from '../helpers/certs.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { spawnAgent, waitForRecords, Watcher, writeConfig } from './harness.js';

describe('agent end to end', { timeout: 120_000 }, () => {
  let modbus: SimulatedModbusServer;
  let certs: TestCerts;
  let broker: MosquittoBroker;
  const dir = tempDir();

  before(async () => {
    modbus = await startSimulatedModbusServer({ port: 0 });
    certs = createTestCerts();
    broker = await startMosquitto({
      tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey, requireCertificate: true },
    });
  });

  after(async () => {
    await broker?.close();
    await modbus?.close();
    certs?.remove();
    dir.remove();
  });

  it('forwards Modbus readings over TLS 1.3 with a client certificate, serves status, stops cleanly', async () => {
    const httpPort = await freePort();
    const base = demoConfig({ modbusPort: modbus.port, mqttUrl: broker.tlsUrl, dataDir: dir.path, httpPort });
    const configFile = writeConfig(dir.path, {
      ...base,
      agent: { id: 'e2e', site: 'e2e' },
      log: { level: 'warn' },
      mqtt: { ...base.mqtt, tls: { ca: certs.ca, cert: certs.clientCert, key: { file: certs.clientKey } } },
    });
    const watcher = await Watcher.connect(broker.url, 'edge/e2e');
    const agent = spawnAgent(configFile);
    try {
      await waitForRecords(watcher, 20, `telemetry over TLS\n${agent.output()}`);
      const telemetry = watcher.records.filter((r) => r.topic.endsWith('/telemetry'));
      const devices = new Set(telemetry.map((r) => r.device));
      for (const d of base.devices) assert.ok(devices.has(d.name), `telemetry from ${d.name}`);
      const online = watcher.records.filter((r) => r.eventType === 'device-online').map((r) => r.device);
      await waitFor('device-online events', () =>
        base.devices.every((d) =>
          watcher.records.some((r) => r.device === d.name && r.eventType === 'device-online'),
        ),
      );
      assert.ok(online.length <= base.devices.length);
      assert.ok(
        watcher.status.some((s) => s.includes('"online"')),
        'retained birth message',
      );

      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      for (const name of [
        'edge_polls_total',
        'edge_records_published_total',
        'edge_outbox_rows',
        'edge_mqtt_connected 1',
      ]) {
        assert.ok(metrics.includes(name), `${name} in /metrics`);
      }
      const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      assert.equal(health.status, 200);
      const status = (await (await fetch(`http://127.0.0.1:${httpPort}/status.json`)).json()) as {
        devices: Array<{ state: string }>;
      };
      assert.ok(status.devices.every((d) => d.state === 'online'));
      assert.ok(!agent.output().includes('BEGIN'), 'no key material in logs');

      agent.child.kill('SIGTERM');
      // A shutdown that hangs fails on the suite's timeout, by name; no wall-clock figure here.
      const exit = await agent.exited;
      assert.equal(exit.code, 0, agent.output());
      await waitFor('agent-stopped event or offline status', () =>
        watcher.status.some((s) => s.includes('"offline"')),
      );
    } finally {
      agent.child.kill('SIGKILL');
      await watcher.close();
    }
  });

  it('refuses to start a TLS link that the broker would downgrade: a pinned wrong CA fails', async () => {
    const other = createTestCerts('some-other-ca');
    const base = demoConfig({
      modbusPort: modbus.port,
      mqttUrl: broker.tlsUrl,
      dataDir: join(dir.path, 'wrongca'),
      httpPort: 0,
    });
    const configFile = writeConfig(dir.path, {
      ...base,
      agent: { id: 'e2e-wrongca', site: 'e2e-wrongca' },
      http: { enabled: false },
      log: { level: 'info' },
      mqtt: { ...base.mqtt, tls: { ca: other.ca, cert: certs.clientCert, key: { file: certs.clientKey } } },
    });
    const agent = spawnAgent(configFile);
    try {
      await waitFor(
        'a TLS error in the log',
        () => /EDGE_ERR_MQTT_(TLS|CONNECT)/.test(agent.output()),
        15_000,
      );
      assert.equal(agent.child.exitCode, null, 'the agent keeps running and storing');
    } finally {
      agent.child.kill('SIGTERM');
      await agent.exited;
      other.remove();
    }
  });
});
