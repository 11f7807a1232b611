/**
 * Replayed and stale MQTT commands against a real mosquitto and a real Modbus server
 * (issue 12 item 6). Before the fix, a retained write ran again at every agent start
 * (one message wrote three times), a command id was forgotten at restart, and a command
 * carried no freshness. Each case restarts the agent on the same store.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import modbusSerial from 'modbus-serial';
import { Agent } from '../../src/agent.js';
import { configSchema, type EdgeConfig } from '../../src/config/schema.js';
import type { CommandResult } from '../../src/core/command-router.js';
import { silentLogger } from '../../src/core/ports.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { systemClock } from '../../src/core/clock.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { startPymodbus, type Peer } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';
import { once, waitFor } from '../helpers/wait.js';

const ModbusClient = modbusSerial.default;
const TOPIC = 'edge/site-r/pump/cmd';
let broker: MosquittoBroker;
let peer: Peer;
let port: number;
let client: mqtt.MqttClient;
const results: CommandResult[] = [];
const dir = tempDir();

before(async () => {
  port = await freePort();
  [broker, peer] = await Promise.all([
    startMosquitto(),
    startPymodbus({ transport: 'tcp', port, slaves: { 1: { holding: { values: { 0: [0, 0, 0, 0] } } } } }),
  ]);
  client = mqtt.connect(broker.url, { protocolVersion: 5, reconnectPeriod: 50 });
  client.on('error', () => undefined);
  client.on('message', (topic, payload) => {
    if (topic === `${TOPIC}/result`) results.push(JSON.parse(payload.toString()) as CommandResult);
  });
  if (!client.connected) await once(client, 'connect');
  await client.subscribeAsync(`${TOPIC}/result`, { qos: 1 });
});
after(async () => {
  client?.end(true);
  await Promise.all([broker?.close(), peer?.stop()]);
  dir.remove();
});

async function modbus<T>(fn: (c: InstanceType<typeof ModbusClient>) => Promise<T>): Promise<T> {
  const c = new ModbusClient();
  await c.connectTCP('127.0.0.1', { port });
  c.setID(1);
  try {
    return await fn(c);
  } finally {
    await new Promise<void>((resolve) => c.close(() => resolve()));
  }
}
const holding = (address: number): Promise<number | undefined> =>
  modbus(async (c) => (await c.readHoldingRegisters(address, 1)).data[0]);

function config(store: string, extra: { httpPort?: number; mqtt?: object } = {}): EdgeConfig {
  return configSchema.parse({
    agent: { id: 't', site: 'site-r' },
    store: { path: join(dir.path, store) },
    http: extra.httpPort ? { port: extra.httpPort } : { enabled: false },
    mqtt: { url: broker.url, topicPrefix: 'edge', allowInsecure: true, ...extra.mqtt },
    devices: [
      {
        name: 'pump',
        driver: 'modbus',
        connection: { transport: 'tcp', host: '127.0.0.1', port },
        commands: { allowWrites: true },
        tags: [
          { name: 'a', function: 'holding', address: 0, writable: true },
          { name: 'b', function: 'holding', address: 1, writable: true },
          { name: 'c', function: 'holding', address: 2, writable: true },
          { name: 'd', function: 'holding', address: 3, writable: true },
        ],
      },
    ],
  });
}

const answers = (id: string): CommandResult[] => results.filter((r) => r.id === id);

/**
 * Publishes until the agent (subscribing asynchronously after its connect) answers `id`
 * `count` times in total; resending the same id is harmless, that is what is under test.
 */
async function untilAnswered(
  id: string,
  payload: string,
  count = 1,
  options: mqtt.IClientPublishOptions = {},
): Promise<CommandResult> {
  return waitFor(
    `answer ${count} to ${id}`,
    async () => {
      if (answers(id).length >= count) return answers(id).at(-1);
      await client.publishAsync(TOPIC, payload, { qos: 1, ...options });
      return undefined;
    },
    20_000,
    200,
  );
}

function refused(agent: Agent, reason: string): number {
  return (
    agent.snapshot().commandsRefused.find((r) => r.source === 'device' && r.reason === reason)?.count ?? 0
  );
}

async function withAgent<T>(
  store: string,
  fn: (agent: Agent) => Promise<T>,
  extra: Parameters<typeof config>[1] = {},
): Promise<T> {
  const agent = new Agent({ config: config(store, extra), logger: silentLogger });
  try {
    await agent.start();
    return await fn(agent);
  } finally {
    await agent.stop();
  }
}

describe('MQTT command replay and freshness (real mosquitto, real Modbus)', { timeout: 120_000 }, () => {
  it('a retained write command is refused at every start and never written (was: written at each of 3 starts)', async () => {
    const payload = JSON.stringify({ id: 'r1', tag: 'a', value: 1111, ts: Date.now() });
    await client.publishAsync(TOPIC, payload, { qos: 1, retain: true });
    try {
      for (let start = 1; start <= 3; start++) {
        await withAgent('retained.db', async (agent) => {
          await waitFor(`refusal at start ${start}`, () => answers('r1').length >= start, 20_000);
          assert.equal(refused(agent, 'retained'), 1);
        });
      }
      assert.equal(await holding(0), 0, 'the retained command never reached the device');
      for (const r of answers('r1')) {
        assert.equal(r.status, 'rejected');
        assert.equal(r.code, 'EDGE_ERR_CMD_RETAINED');
        assert.match(r.message ?? '', /retained/);
      }
    } finally {
      await client.publishAsync(TOPIC, '', { qos: 1, retain: true }); // clears it on the broker
    }
  });

  it('a command id seen before a restart is not run again: answered with its stored result', async () => {
    const payload = JSON.stringify({ id: 'd1', tag: 'b', value: 2222, ts: Date.now() });
    await withAgent('dup.db', async () => {
      assert.equal((await untilAnswered('d1', payload)).status, 'done');
    });
    assert.equal(await holding(1), 2222);
    await modbus((c) => c.writeRegister(1, 7)); // changed on site meanwhile
    await withAgent('dup.db', async (agent) => {
      const again = await untilAnswered('d1', payload, 2);
      assert.equal(again.status, 'done', 'the stored result, published again');
      const stats = agent.status().commands as { duplicates: number };
      assert.ok(stats.duplicates >= 1);
    });
    assert.equal(await holding(1), 7, 'not written a second time');
  });

  it('an id claimed before a crash (outcome unknown) is refused as a duplicate after restart', async () => {
    // What a power cut between the claim and the write's result leaves in the store.
    const box = SqliteOutbox.open(config('crash.db').store, { clock: systemClock, logger: silentLogger });
    box.commandLedger({ seenTtlMs: 3_600_000, maxKeys: 1000 }).claim('cmd\u0000pump\u0000k1', Date.now());
    await box.close();
    await withAgent('crash.db', async (agent) => {
      const r = await untilAnswered(
        'k1',
        JSON.stringify({ id: 'k1', tag: 'c', value: 3333, ts: Date.now() }),
      );
      assert.equal(r.status, 'rejected');
      assert.equal(r.code, 'EDGE_ERR_CMD_DUPLICATE');
      assert.equal(refused(agent, 'duplicate'), 1);
    });
    assert.equal(await holding(2), 0);
  });

  it('stale, future and undated commands are refused; an MQTT 5 message expiry is accepted as freshness', async () => {
    await withAgent('fresh.db', async (agent) => {
      const stale = await untilAnswered(
        's1',
        JSON.stringify({ id: 's1', tag: 'd', value: 1, ts: Date.now() - 10 * 60_000 }),
      );
      assert.equal(stale.code, 'EDGE_ERR_CMD_EXPIRED');
      assert.match(stale.message ?? '', /issued \d+ ms ago/);
      const short = await untilAnswered(
        's2',
        JSON.stringify({ id: 's2', tag: 'd', value: 2, ts: Date.now() - 60_000, ttlMs: 1000 }),
      );
      assert.equal(short.code, 'EDGE_ERR_CMD_EXPIRED', 'ttlMs shortens the validity');
      const future = await untilAnswered(
        's3',
        JSON.stringify({ id: 's3', tag: 'd', value: 3, ts: Date.now() + 3_600_000 }),
      );
      assert.equal(future.code, 'EDGE_ERR_CMD_EXPIRED');
      const undated = await untilAnswered('s4', JSON.stringify({ id: 's4', tag: 'd', value: 4 }));
      assert.equal(undated.code, 'EDGE_ERR_CMD_EXPIRED');
      assert.match(undated.message ?? '', /no ts and no MQTT 5 message expiry/);
      assert.equal(await holding(3), 0, 'none of them was written');
      const expiring = await untilAnswered('s5', JSON.stringify({ id: 's5', tag: 'd', value: 5 }), 1, {
        properties: { messageExpiryInterval: 60 },
      });
      assert.equal(expiring.status, 'done');
      assert.equal(await holding(3), 5);
      assert.ok(refused(agent, 'expired') >= 2);
      assert.ok(refused(agent, 'future') >= 1);
      assert.ok(refused(agent, 'no-expiry') >= 1);
    });
  });

  it('oversized commands are refused and counted in /metrics, and the agent keeps working', async () => {
    const httpPort = await freePort();
    // 3.1.1: the broker does not know our limit, so the agent's own header guard is what refuses it.
    await client.publishAsync(TOPIC, Buffer.alloc(16 * 1024 * 1024, 0x20), { qos: 1, retain: true });
    try {
      await withAgent(
        'big.db',
        async () => {
          const metric = async (labels: string): Promise<number> => {
            const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
            const line = text.split('\n').find((l) => l.startsWith(`edge_commands_refused_total{${labels}}`));
            return line ? Number(line.split(' ').at(-1)) : 0;
          };
          await waitFor(
            'mqtt oversized counted',
            async () => (await metric('source="mqtt",reason="oversized"')) >= 1,
          );
          await client.publishAsync(TOPIC, '', { qos: 1, retain: true });
          // Within the packet bound but over commands.maxPayloadBytes (64 KiB): dropped unparsed.
          const padded = JSON.stringify({
            id: 'o1',
            tag: 'd',
            value: 9,
            ts: Date.now(),
            pad: 'x'.repeat(70_000),
          });
          await waitFor(
            'device oversized counted',
            async () => {
              if ((await metric('source="device",reason="oversized"')) >= 1) return true;
              await client.publishAsync(TOPIC, padded, { qos: 1 });
              return false;
            },
            20_000,
            200,
          );
          const ok = await untilAnswered(
            'o2',
            JSON.stringify({ id: 'o2', tag: 'd', value: 77, ts: Date.now() }),
          );
          assert.equal(ok.status, 'done', 'still working');
          assert.equal(answers('o1').length, 0, 'the oversized one got no result: it was never parsed');
        },
        {
          httpPort,
          mqtt: { protocolVersion: 4, maxPacketBytes: 131_072, reconnect: { initialMs: 50, maxMs: 200 } },
        },
      );
    } finally {
      await client.publishAsync(TOPIC, '', { qos: 1, retain: true });
    }
    assert.equal(await holding(3), 77);
  });
});
