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
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { SiteWatcher, startInProcess, type InProcessAgent } from './peers.js';

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
  const watcher = await SiteWatcher.connect(broker.url, 'edge/birth');
  let run: InProcessAgent | undefined;
  try {
    run = await startInProcess(file);
    const { agent, reload } = run;
    const first = reload.reloader.info().hash;
    const birthOf = (hash: string) => (): boolean =>
      watcher.status.some((s) => (s.config as { hash?: string } | undefined)?.hash === hash);
    await waitFor('the first birth', () => agent.status().forwarder !== null && birthOf(first)());
    writeFileSync(file, config(2000));
    const result = await reload.reloader.reloadFile();
    assert.equal(result.status, 'applied');
    assert.notEqual(result.hash, first);
    assert.equal((agent.status().agent as { config: { hash: string } }).config.hash, result.hash);
    await waitFor('a birth naming the new config', birthOf(result.hash), 5_000);
  } finally {
    await run?.stop();
    await watcher.close();
  }
});
