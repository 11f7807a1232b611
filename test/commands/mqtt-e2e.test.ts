/**
 * The whole command path for real: an MQTT client publishes `{device}/cmd` to mosquitto,
 * the agent (its forwarder's command channel, nothing injected) writes the register on a
 * pymodbus server and the result arrives on `{device}/cmd/result`.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import modbusSerial from 'modbus-serial';
import { Agent } from '../../src/agent.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/core/ports.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { startAll } from '../helpers/peers.js';
import { startPymodbus, type Peer } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';
import { once, waitFor } from '../helpers/wait.js';

const ModbusClient = modbusSerial.default;
let broker: MosquittoBroker;
let peer: Peer;
let port: number;
const dir = tempDir();

before(async () => {
  port = await freePort();
  [broker, peer] = await startAll([
    startMosquitto(),
    startPymodbus({ transport: 'tcp', port, slaves: { 1: { holding: { values: { 0: [0, 0] } } } } }),
  ]);
});
after(async () => {
  await Promise.allSettled([broker?.close(), peer?.stop()]);
  dir.remove();
});

async function holding(address: number): Promise<number | undefined> {
  const client = new ModbusClient();
  await client.connectTCP('127.0.0.1', { port });
  client.setID(1);
  try {
    return (await client.readHoldingRegisters(address, 1)).data[0];
  } finally {
    await new Promise<void>((resolve) => client.close(() => resolve()));
  }
}

test(
  'a command published on MQTT is written once and answered on cmd/result',
  { timeout: 60_000 },
  async () => {
    const config = configSchema.parse({
      agent: { id: 't', site: 'site-9' },
      store: { path: join(dir.path, 'e2e.db') },
      http: { enabled: false },
      mqtt: { url: broker.url, topicPrefix: 'edge', allowInsecure: true },
      devices: [
        {
          name: 'pump',
          driver: 'modbus',
          connection: { transport: 'tcp', host: '127.0.0.1', port },
          commands: { allowWrites: true },
          tags: [{ name: 'setpoint', function: 'holding', address: 1, writable: true }],
        },
      ],
    });
    const agent = new Agent({ config, logger: silentLogger });
    const client = mqtt.connect(broker.url, { reconnectPeriod: 50 });
    client.on('error', () => undefined);
    const results: Array<{ id: string; status: string; code?: string }> = [];
    client.on('message', (topic, payload) => {
      if (topic === 'edge/site-9/pump/cmd/result')
        results.push(JSON.parse(payload.toString()) as (typeof results)[number]);
    });
    try {
      await agent.start();
      if (!client.connected) await once(client, 'connect');
      await client.subscribeAsync('edge/site-9/+/cmd/result', { qos: 1 });
      // The agent subscribes once connected; resend the same id until answered (it is deduplicated).
      await waitFor(
        'result of c1',
        async () => {
          if (results.some((r) => r.id === 'c1')) return true;
          await client.publishAsync(
            'edge/site-9/pump/cmd',
            JSON.stringify({ id: 'c1', tag: 'setpoint', value: 4321, ts: Date.now() }),
            { qos: 1 },
          );
          return false;
        },
        20_000,
        200,
      );
      assert.equal(results.find((r) => r.id === 'c1')?.status, 'done');
      assert.equal(await holding(1), 4321);

      await client.publishAsync(
        'edge/site-9/pump/cmd',
        JSON.stringify({ id: 'c2', tag: 'nope', value: 1, ts: Date.now() }),
        { qos: 1 },
      );
      const c2 = await waitFor('result of c2', () => results.find((r) => r.id === 'c2'));
      assert.equal(c2.status, 'rejected');
      assert.equal(c2.code, 'EDGE_ERR_CMD_UNKNOWN_TAG');
    } finally {
      client.end(true);
      await agent.stop();
    }
  },
);
