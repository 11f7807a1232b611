/**
 * NBIRTH names the config the edge node runs: `Properties/Config Hash` and `Properties/
 * Config Version` (String metrics), decoded by protoc with Tahu's .proto, through mosquitto.
 * A live reload republishes the births (same bdSeq, seq 0) with the new hash. Before: a
 * Sparkplug host could not tell which config a station ran (only the JSON birth said it).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { stringify } from 'yaml';
import { ConfigHistory } from '../../src/reload/history.js';
import { configHash } from '../../src/reload/validate.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/tmp.js';
import { startInProcess, type InProcessAgent } from '../reload/peers.js';
import { Subscriber, bdSeqOf, protocMissing, seqOf } from './helpers.js';

const skip = protocMissing();
const dir = tempDir('edge-agent-sp-config-');
let broker: MosquittoBroker | undefined;
before(async () => {
  if (!skip) broker = await startMosquitto();
});
after(async () => {
  await broker?.close();
  dir.remove();
});

/** The string_value of a metric in protoc's text, or 'null' when it is is_null. */
function metricValue(text: string, name: string): string | undefined {
  const block = new RegExp(`metrics \\{\\s+name: "${name}"([^}]*)\\}`).exec(text)?.[1];
  if (block === undefined) return undefined;
  if (/is_null: true/.test(block) && /datatype: 12/.test(block)) return 'null';
  return /datatype: 12[\s\S]*string_value: "([^"]*)"/.exec(block)?.[1];
}

it(
  'NBIRTH carries the config hash and version; a live reload rebirths with the new hash',
  { skip, timeout: 60_000 },
  async () => {
    const config = (intervalMs: number): string =>
      stringify({
        agent: { id: 'gw', site: 'sp-config' },
        store: { path: join(dir.path, 'outbox.db') },
        http: { enabled: false },
        mqtt: { url: broker!.url, allowInsecure: true, payload: { format: 'sparkplug' } },
        reload: { historyDir: join(dir.path, 'history') },
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
    const file = join(dir.path, 'config.yaml');
    const first = config(1000);
    writeFileSync(file, first);
    // The active config was pushed with a version (the history says so).
    const history = new ConfigHistory(join(dir.path, 'history'));
    await history.activate({
      hash: await history.store(first),
      at: Date.now(),
      source: 'push',
      version: 'fleet-9',
      fileHash: configHash(first),
    });
    const sub = await Subscriber.start(broker!.url, 'sp-config');
    let run: InProcessAgent | undefined;
    try {
      run = await startInProcess(file);
      await sub.waitFor('NBIRTH', (s) => s.of('NBIRTH').length >= 1);
      const nbirth = sub.of('NBIRTH')[0]!.text;
      assert.equal(metricValue(nbirth, 'Properties/Config Hash'), configHash(first), nbirth);
      assert.equal(metricValue(nbirth, 'Properties/Config Version'), 'fleet-9');

      writeFileSync(file, config(2000));
      const result = await run.reload.reloader.reloadFile();
      assert.equal(result.status, 'applied');
      await sub.waitFor('a rebirth naming the new config', (s) =>
        s.of('NBIRTH').some((m) => metricValue(m.text, 'Properties/Config Hash') === result.hash),
      );
      const again = sub.of('NBIRTH').at(-1)!.text;
      assert.equal(metricValue(again, 'Properties/Config Version'), 'null', 'a file reload has no version');
      assert.equal(seqOf(again), 0);
      assert.equal(bdSeqOf(again), bdSeqOf(nbirth), 'the same session: same bdSeq');
    } finally {
      await run?.stop();
      await sub.close();
    }
  },
);
