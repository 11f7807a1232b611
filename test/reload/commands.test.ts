/**
 * Device commands across a live reload: a reload that changes one device rebuilds the
 * command router, and a command for an unchanged device published meanwhile must still be
 * carried out. Found in review: the old router unsubscribed `{device}/cmd` (an MQTT
 * UNSUBSCRIBE) and waited for its in-flight commands (up to commands.timeoutMs) before the
 * new one subscribed, so the broker dropped every command published in between.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { startPymodbus, type Peer } from '../helpers/pymodbus.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { startInProcess, type InProcessAgent } from './peers.js';

const dir = tempDir('edge-agent-reload-cmd-');
let broker: MosquittoBroker;
let modbus: Peer;
let modbusPort: number;
before(async () => {
  broker = await startMosquitto();
  modbusPort = await freePort();
  modbus = await startPymodbus({
    transport: 'tcp',
    port: modbusPort,
    slaves: { 1: { holding: { values: { 0: [7] } } } },
  });
});
after(async () => {
  await modbus?.stop();
  await broker?.close();
  dir.remove();
});

test('a command for an unchanged device published during a reload is carried out', async () => {
  // A Modbus server that accepts and never answers: a write to it stays in flight.
  const sockets = new Set<Socket>();
  const silent = createServer((s) => void sockets.add(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentPort = (silent.address() as { port: number }).port;
  const device = (name: string, port: number, intervalMs = 1000): Record<string, unknown> => ({
    name,
    driver: 'modbus',
    connection: { transport: 'tcp', host: '127.0.0.1', port },
    intervalMs,
    tags: [{ name: 't0', function: 'holding', address: 0, type: 'u16', writable: true }],
  });
  const config = (otherInterval: number): string =>
    stringify({
      agent: { id: 'gw', site: 'cmd' },
      store: { path: join(dir.path, 'outbox.db') },
      http: { enabled: false },
      mqtt: { url: broker.url, allowInsecure: true },
      commands: { allowWrites: true, timeoutMs: 4000 },
      reload: { historyDir: join(dir.path, 'history') },
      devices: [
        device('slow', silentPort),
        device('ok', modbusPort),
        device('other', modbusPort, otherInterval),
      ],
    });
  const file = join(dir.path, 'config.yaml');
  writeFileSync(file, config(1000));
  const client = await mqtt.connectAsync(broker.url, { clientId: `cmd-${process.pid}`, reconnectPeriod: 0 });
  const results = new Map<string, { status: string }>();
  client.on('message', (_topic, payload) => {
    const r = JSON.parse(payload.toString()) as { id: string; status: string };
    results.set(r.id, r);
  });
  await client.subscribeAsync('edge/cmd/+/cmd/result', { qos: 1 });
  const command = (deviceName: string, id: string, value: number): Promise<unknown> =>
    client.publishAsync(
      `edge/cmd/${deviceName}/cmd`,
      JSON.stringify({ id, tag: 't0', value, ts: Date.now(), ttlMs: 60_000 }),
      { qos: 1 },
    );
  let reloading: Promise<unknown> | undefined;
  let run: InProcessAgent | undefined;
  try {
    run = await startInProcess(file);
    const { agent, reload } = run;
    // the router is subscribed: a command to ok is carried out
    await waitFor('the router subscribed', async () => {
      await command('ok', `probe-${Date.now()}`, 7);
      return [...results.values()].some((r) => r.status === 'done');
    });
    await command('slow', 'slow-1', 1);
    await waitFor(
      'the write to slow in flight',
      () => (agent.status().commands as { pending: number }).pending > 0,
    );
    writeFileSync(file, config(1500));
    const target = agent.reloadTarget();
    reloading = reload.reloader.reloadFile();
    await waitFor('the reload replacing the changed device', () =>
      target.config().devices.some((d) => d.name === 'other' && d.intervalMs === 1500),
    );
    await command('ok', 'during-reload', 9);
    await waitFor(
      'the result of the command sent during the reload',
      () => results.get('during-reload'),
      15_000,
    );
    assert.equal(results.get('during-reload')?.status, 'done');
    assert.equal(((await reloading) as { status: string }).status, 'applied');
  } finally {
    await reloading?.catch(() => undefined);
    await run?.stop();
    await client.endAsync(true);
    for (const s of sockets) s.destroy();
    silent.close();
  }
});
