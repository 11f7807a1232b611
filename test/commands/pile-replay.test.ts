/**
 * CIP-22 pile commands delivered twice (issue 12 item 6): before the fix they were not
 * deduplicated at all, so an issuer resending after a broker reconnect started a pile
 * twice. Real mosquitto (restarted in the middle), the forwarder's command channel, the
 * gateway with a simulated pile, and the command ledger in a real SQLite store.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { storeSchema } from '../../src/config/sections/store.js';
import { systemClock } from '../../src/core/clock.js';
import { DEFAULT_FRESHNESS } from '../../src/core/command-guard.js';
import { silentLogger } from '../../src/core/ports.js';
import type { MqttForwarder } from '../../src/forwarders/mqtt/forwarder.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/tmp.js';
import { once, waitFor } from '../helpers/wait.js';
import { type Fixture, startGateway } from '../cip22/gateway-fixture.js';
import { SITE, makeForwarder, mqttConfig } from '../mqtt/util.js';

interface PileResult {
  readonly id: string;
  readonly ok: boolean;
  readonly error?: string;
}

describe('pile commands delivered twice run once (real mosquitto, restarted)', { timeout: 120_000 }, () => {
  const dir = tempDir();
  let broker: MosquittoBroker;
  let store: SqliteOutbox;
  let fwd: MqttForwarder;
  let client: mqtt.MqttClient;
  const results: PileResult[] = [];

  before(async () => {
    broker = await startMosquitto();
    store = SqliteOutbox.open(storeSchema.parse({ path: join(dir.path, 'pile.db') }), {
      clock: systemClock,
      logger: silentLogger,
    });
    fwd = makeForwarder(
      mqttConfig({ url: broker.url, topicPrefix: 'pc', reconnect: { initialMs: 20, maxMs: 100 } }),
      store,
    );
    await fwd.start();
    client = mqtt.connect(broker.url, { protocolVersion: 5, reconnectPeriod: 50 });
    client.on('error', () => undefined);
    client.on('message', (_topic, payload) => results.push(JSON.parse(payload.toString()) as PileResult));
    if (!client.connected) await once(client, 'connect');
    await client.subscribeAsync(`pc/${SITE}/+/cmd/result`, { qos: 1 });
  });
  after(async () => {
    client?.end(true);
    await fwd?.stop();
    await store?.close();
    await broker?.close();
    dir.remove();
  });

  async function gateway(): Promise<Fixture> {
    return startGateway(
      {},
      {
        outbox: store,
        commands: fwd.commands,
        commandOptions: {
          ledger: store.commandLedger({ seenTtlMs: 3_600_000, maxKeys: 1000 }),
          policy: DEFAULT_FRESHNESS,
        },
      },
    );
  }

  const answers = (id: string): PileResult[] => results.filter((r) => r.id === id);
  async function untilAnswered(
    pile: string,
    id: string,
    payload: string,
    count: number,
  ): Promise<PileResult> {
    return waitFor(
      `answer ${count} to ${id}`,
      async () => {
        if (answers(id).length >= count) return answers(id).at(-1);
        if (client.connected) await client.publishAsync(`pc/${SITE}/${pile}/cmd`, payload, { qos: 1 });
        return undefined;
      },
      20_000,
      200,
    );
  }

  it('a resend after a broker reconnect and after a gateway restart is answered, not sent to the pile', async (t) => {
    let fx = await gateway();
    // The pile keeps its msg_seq across reconnects (as a real one does): the store dedups on it.
    const stateFile = join(dir.path, 'pile-state.json');
    let pile = fx.pile('p256', { stateFile });
    t.after(async () => {
      pile.close();
      await fx.stop();
    });
    await pile.connect();
    const sent: number[] = [];
    pile.onFrame((m) => void (m.type === 'CMD' && sent.push(m.commandId)));
    await waitFor('forwarder connected', () => fwd.stats().connected);
    const payload = JSON.stringify({ id: 'p1', command: 'start', ts: Date.now() });

    const first = await untilAnswered(pile.deviceId, 'p1', payload, 1);
    assert.equal(first.ok, true, JSON.stringify(first));
    assert.equal(sent.length, 1);

    await broker.restart();
    await waitFor('forwarder reconnected', () => fwd.stats().connected && fwd.stats().reconnects >= 1);
    await waitFor('test client reconnected', () => client.connected);
    const again = await untilAnswered(pile.deviceId, 'p1', payload, 2);
    assert.equal(again.ok, true, 'the stored result, published again');
    assert.equal(sent.length, 1, 'not sent to the pile a second time');
    assert.ok((fx.gateway.commandRefusals().duplicate ?? 0) >= 1);

    pile.close();
    await fx.stop();
    fx = await gateway(); // a restarted gateway: same store, fresh memory
    pile = fx.pile('p256', { stateFile });
    await pile.connect();
    const sentAfter: number[] = [];
    pile.onFrame((m) => void (m.type === 'CMD' && sentAfter.push(m.commandId)));
    assert.equal((await untilAnswered(pile.deviceId, 'p1', payload, 3)).ok, true);
    assert.equal(sentAfter.length, 0, 'not sent after the restart either');

    const fresh = JSON.stringify({ id: 'p2', command: 'start', ts: Date.now() });
    const second = await untilAnswered(pile.deviceId, 'p2', fresh, 1);
    assert.equal(second.ok, true, JSON.stringify(second));
    assert.equal(sentAfter.length, 1, 'a new id still runs');
  });
});
