/**
 * A config signer must not be able to change who the station trusts. Before: a signed
 * push could name its own OTA bundle and command keys (src/ota/agent-side.ts reads them from
 * the running config), its own pile roots, or move the replay guards; after a restart the
 * agent trusted them. Now a push that changes a trust anchor is refused with the path, over
 * a real mosquitto; a local file reload may change them; and a config the history holds from
 * an older agent starts with the local file's anchors.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { keyIdOf } from '../../src/ota/manifest.js';
import { ConfigHistory } from '../../src/reload/history.js';
import { loadStartupConfig } from '../../src/reload/runtime.js';
import { configHash } from '../../src/reload/validate.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { SiteWatcher, startInProcess } from './peers.js';

const SITE = 'trust';
const dir = tempDir('edge-agent-trust-');
let broker: MosquittoBroker;
before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  await broker?.close();
  dir.remove();
});

interface Key {
  readonly privateKey: KeyObject;
  readonly keyId: string;
  readonly pem: string;
}

function key(name: string): Key {
  const pair = generateKeyPairSync('ed25519');
  const pem = join(dir.path, `${name}.pem`);
  writeFileSync(pem, pair.publicKey.export({ format: 'pem', type: 'spki' }));
  return { privateKey: pair.privateKey, keyId: keyIdOf(pair.publicKey), pem };
}

let n = 0;
function signed(signer: Key, config: string): string {
  const now = Date.now();
  const command = JSON.stringify({
    type: 'config-set',
    id: `trust-${process.pid}-${++n}`,
    site: SITE,
    issuedAt: now,
    expiresAt: now + 600_000,
    config,
  });
  const sig = sign(null, Buffer.from(command), signer.privateKey).toString('base64');
  return JSON.stringify({ command, keyId: signer.keyId, sig });
}

describe('trust anchors and signed config pushes', { timeout: 120_000 }, () => {
  it('a push that changes a trust anchor is refused with its path; the same push without it applies', async () => {
    const [configKey, otaKey, attacker] = [key('config'), key('ota'), key('attacker')];
    const base = (
      extra: { ota?: Record<string, unknown>; cip22?: Record<string, unknown> },
      interval = 1000,
    ) => ({
      agent: { id: 'gw', site: SITE },
      store: { path: join(dir.path, 'outbox.db') },
      http: { enabled: false },
      mqtt: { url: broker.url, allowInsecure: true },
      ota: { publicKeys: [otaKey.pem], ...extra.ota },
      ...(extra.cip22 ? { cip22: extra.cip22 } : {}),
      reload: { historyDir: join(dir.path, 'history'), commands: true, publicKeys: [configKey.pem] },
      devices: [
        {
          name: 'a',
          driver: 'modbus',
          connection: { transport: 'tcp', host: '127.0.0.1', port: 1 },
          intervalMs: interval,
          tags: [{ name: 't0', function: 'holding', address: 0, type: 'u16' }],
        },
      ],
    });
    const file = join(dir.path, 'config.yaml');
    writeFileSync(file, stringify(base({})));
    const watcher = await SiteWatcher.connect(broker.url, `edge/${SITE}`);
    const restarts: string[] = [];
    const run = await startInProcess(file, (reason) => restarts.push(reason));
    try {
      await waitFor('connected', () => run.agent.status().forwarder !== null);
      const push = async (text: string): Promise<Record<string, unknown>> => {
        const before = watcher.results.length;
        await watcher.publish(`edge/${SITE}/agent/config/set`, signed(configKey, text));
        return waitFor('a config result', () => watcher.results[before]);
      };
      const cases: Array<[string, ReturnType<typeof base>]> = [
        ['ota.publicKeys', base({ ota: { publicKeys: [attacker.pem] } })],
        ['ota.commandPublicKeys', base({ ota: { commandPublicKeys: [attacker.pem] } })],
        ['ota.dataDir', base({ ota: { dataDir: join(dir.path, 'fresh-guard') } })],
        ['ota.allowDowngrade', base({ ota: { allowDowngrade: true } })],
        ['cip22.roots', base({ cip22: { roots: [attacker.pem] } })],
      ];
      for (const [path, config] of cases) {
        const result = await push(stringify(config));
        assert.equal(result.status, 'refused', path);
        const problems = result.problems as Array<{ path: string; code: string }>;
        assert.deepEqual(
          problems.map((p) => [p.path, p.code]),
          [[path, 'EDGE_ERR_CONFIG_TRUST']],
        );
        assert.match(String(result.reason), new RegExp(path.replace('.', '\\.')));
      }
      assert.deepEqual(run.agent.reloadTarget().config().ota.publicKeys, [otaKey.pem], 'running keys kept');
      const fine = await push(stringify(base({}, 2000)));
      assert.equal(fine.status, 'applied', JSON.stringify(fine));
      // The local file may change them (an operator on the station): the restart it needs is asked.
      writeFileSync(file, stringify(base({ ota: { publicKeys: [attacker.pem] } })));
      const reloaded = await run.reload.reloader.reloadFile();
      assert.equal(reloaded.status, 'restarting', JSON.stringify(reloaded));
      assert.match(restarts.join('\n'), /ota\.publicKeys/);
    } finally {
      await run.stop();
      await watcher.close();
    }
  });

  it('a config the history holds starts with the local file’s trust anchors', async () => {
    const sub = join(dir.path, 'startup');
    mkdirSync(sub, { recursive: true });
    const [local, other] = [key('local-ota'), key('other-ota')];
    const text = (pem: string, roots: string[]): string =>
      stringify({
        agent: { id: 'gw', site: SITE },
        ota: { publicKeys: [pem], commandPublicKeys: [pem], allowDowngrade: pem === other.pem },
        cip22: { roots },
        reload: { historyDir: join(sub, 'history') },
      });
    const file = join(sub, 'config.yaml');
    const fileText = text(local.pem, []);
    writeFileSync(file, fileText);
    // Pushed and accepted by an agent from before this check.
    const history = new ConfigHistory(join(sub, 'history'));
    const pushed = text(other.pem, [other.pem]);
    await history.activate({
      hash: await history.store(pushed),
      at: 1,
      source: 'push',
      fileHash: configHash(fileText),
    });
    const startup = loadStartupConfig(file);
    assert.equal(startup.text, pushed, 'the pushed config runs');
    assert.deepEqual(startup.config.ota.publicKeys, [local.pem]);
    assert.deepEqual(startup.config.ota.commandPublicKeys, [local.pem]);
    assert.equal(startup.config.ota.allowDowngrade, false);
    assert.deepEqual(startup.config.cip22.roots, []);
  });
});
