/**
 * The retained birth message names the config the agent runs: after a live reload (no
 * reconnect: the MQTT settings did not change) the broker's retained `agent/status` carries
 * the new hash, as /status.json does. Found in review: the birth kept the hash of the config
 * the connection was made with until the next reconnect.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { Agent } from '../../src/agent.js';
import { silentLogger } from '../../src/core/ports.js';
import { initialInfo, loadStartupConfig, startReload, type ReloadRuntime } from '../../src/reload/runtime.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { SiteWatcher } from './peers.js';

const dir = tempDir('edge-agent-birth-');
let broker: MosquittoBroker;
before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  await broker?.close();
  dir.remove();
});

test('a live reload republishes the retained birth with the new config hash', async () => {
  const port = await freePort();
  const config = (intervalMs: number): string =>
    stringify({
      agent: { id: 'gw', site: 'birth' },
      store: { path: join(dir.path, 'outbox.db') },
      http: { enabled: false },
      mqtt: { url: broker.url, allowInsecure: true },
      reload: { historyDir: join(dir.path, 'history') },
      devices: [
        {
          name: 'a',
          driver: 'modbus',
          connection: { transport: 'tcp', host: '127.0.0.1', port },
          intervalMs,
          tags: [{ name: 't0', function: 'holding', address: 0, type: 'u16' }],
        },
      ],
    });
  const file = join(dir.path, 'config.yaml');
  writeFileSync(file, config(1000));
  const startup = loadStartupConfig(file);
  const live: { reload?: ReloadRuntime } = {};
  const agent = new Agent({
    config: startup.config,
    logger: silentLogger,
    configInfo: () => live.reload?.reloader.info() ?? initialInfo(startup.text),
  });
  const watcher = await SiteWatcher.connect(broker.url, 'edge/birth');
  try {
    await agent.start();
    live.reload = await startReload({
      agent,
      file,
      startup,
      logger: silentLogger,
      restart: () => assert.fail('no restart expected'),
    });
    const first = live.reload.reloader.info().hash;
    const birthOf = (hash: string) => (): boolean =>
      watcher.status.some((s) => (s.config as { hash?: string } | undefined)?.hash === hash);
    await waitFor('the first birth', () => agent.status().forwarder !== null && birthOf(first)());
    writeFileSync(file, config(2000));
    const result = await live.reload.reloader.reloadFile();
    assert.equal(result.status, 'applied');
    assert.notEqual(result.hash, first);
    assert.equal((agent.status().agent as { config: { hash: string } }).config.hash, result.hash);
    await waitFor('a birth naming the new config', birthOf(result.hash), 5_000);
  } finally {
    live.reload?.stop();
    await agent.stop();
    await watcher.close();
  }
});
