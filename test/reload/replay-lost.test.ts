/**
 * A real replay of a signed config push after the history's state.json was deleted, through
 * mosquitto. Before: the deleted file read as a fresh history, the accepted ids were gone and
 * the same signed message was applied again within its validity window. Now the guard the
 * agent re-creates at its start refuses every push issued before; a push signed afterwards
 * applies.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { stringify } from 'yaml';
import { keyIdOf } from '../../src/ota/manifest.js';
import { waitFor } from '../helpers/wait.js';
import { brokerAndDir, SiteWatcher, startInProcess, type InProcessAgent } from './peers.js';

const SITE = 'replay-lost';
const { dir, broker } = brokerAndDir('edge-agent-replay-lost-');

it(
  'a push replayed after state.json was deleted is refused; one signed after applies',
  { timeout: 120_000 },
  async () => {
    const pair = generateKeyPairSync('ed25519');
    const pem = join(dir.path, 'config-key.pem');
    writeFileSync(pem, pair.publicKey.export({ format: 'pem', type: 'spki' }));
    const config = (intervalMs: number): string =>
      stringify({
        agent: { id: 'gw', site: SITE },
        store: { path: join(dir.path, 'outbox.db') },
        http: { enabled: false },
        mqtt: { url: broker.url, allowInsecure: true },
        reload: { historyDir: join(dir.path, 'history'), commands: true, publicKeys: [pem] },
        devices: [
          {
            name: 'a',
            driver: 'modbus',
            connection: { transport: 'tcp', host: '127.0.0.1', port: 1 },
            intervalMs,
            tags: [{ name: 't0', function: 'holding', address: 0, type: 'u16' }],
          },
        ],
      });
    const signed = (id: string, intervalMs: number): string => {
      // Signed once the agent runs: after the guard it created at start, even in the same ms.
      const now = Date.now() + 1;
      const command = JSON.stringify({
        type: 'config-set',
        id,
        site: SITE,
        issuedAt: now,
        expiresAt: now + 600_000,
        config: config(intervalMs),
      });
      const sig = sign(null, Buffer.from(command), pair.privateKey).toString('base64');
      return JSON.stringify({ command, keyId: keyIdOf(pair.publicKey), sig });
    };
    const file = join(dir.path, 'config.yaml');
    writeFileSync(file, config(1000));
    const watcher = await SiteWatcher.connect(broker.url, `edge/${SITE}`);
    const topic = `edge/${SITE}/agent/config/set`;
    const result = async (payload: string): Promise<Record<string, unknown>> => {
      const before = watcher.results.length;
      await watcher.publish(topic, payload);
      return waitFor('a config result', () =>
        watcher.results.slice(before).find((r) => r.status !== 'restarting'),
      );
    };
    let run: InProcessAgent | undefined;
    try {
      run = await startInProcess(file);
      await waitFor('connected', () => run!.agent.status().forwarder !== null);
      const push = signed('push-lost-0001', 2000);
      assert.equal((await result(push)).status, 'applied');
      assert.equal((await result(push)).status, 'refused', 'replayed while state.json is there');

      await run.stop();
      rmSync(join(dir.path, 'history', 'state.json'));
      run = await startInProcess(file);
      await waitFor('connected again', () => run!.agent.status().forwarder !== null);
      const replay = await result(push);
      assert.equal(replay.status, 'refused', JSON.stringify(replay));
      assert.match(String(replay.reason), /^replayed: .*replay guard was re-created/);
      assert.equal(
        run.agent.reloadTarget().config().devices[0]!.intervalMs,
        1000,
        'the replay changed nothing',
      );

      const fresh = await result(signed('push-lost-0002', 3000));
      assert.equal(fresh.status, 'applied', JSON.stringify(fresh));
      assert.equal(run.agent.reloadTarget().config().devices[0]!.intervalMs, 3000);
    } finally {
      await run?.stop();
      await watcher.close();
    }
  },
);
