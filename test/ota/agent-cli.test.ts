/**
 * OTA wired into the agent and the CLI: the CLI installs and switches, `boot-check`
 * counts the start, the agent on trial commits itself once healthy and puts the
 * `ota-committed` event into its outbox.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { Agent } from '../../src/agent.js';
import { validateConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { OtaEngine } from '../../src/ota/engine.js';
import { serveRequests } from '../../src/ota/privileged.js';
import { tempDir } from '../helpers/tmp.js';
import { bootableVersion, buildBundle, factoryInstall, makeKey, testOtaConfig } from './helpers.js';

const run = promisify(execFile);
const CLI = 'dist/src/cli/main.js';

describe('OTA through the CLI and the agent', () => {
  it('ota apply → boot-check → agent commits when healthy and emits ota-committed', async (t) => {
    const tmp = tempDir('edge-ota-cli-');
    t.after(() => tmp.remove());
    const key = makeKey(tmp.path);
    const ota = testOtaConfig(tmp.path, key, { brokerOptional: true });
    factoryInstall(ota, '1.0.0');
    const raw = {
      agent: { id: 'a1', site: 's1' },
      store: { path: join(tmp.path, 'outbox.db') },
      http: { enabled: false },
      log: { level: 'silent' },
      ota: {
        root: ota.root,
        dataDir: ota.dataDir,
        stateDir: ota.stateDir,
        mode: 'inline',
        publicKeys: ota.publicKeys,
        brokerOptional: true,
      },
    };
    const configFile = join(tmp.path, 'config.yaml');
    writeFileSync(configFile, stringify(raw));
    const bundle = buildBundle(tmp.path, { version: '1.1.0', key });

    const applied = await run(process.execPath, [
      CLI,
      'ota',
      'apply',
      bundle,
      '--config',
      configFile,
      '--no-restart',
    ]);
    assert.match(applied.stdout, /switched 1\.0\.0 -> 1\.1\.0/);
    assert.match(applied.stderr, /verify[\s\S]*unpack[\s\S]*done/, 'plain progress lines when not on a TTY');
    assert.equal(readlinkSync(join(ota.root, 'current')), 'releases/1.1.0');
    const booted = await run(process.execPath, [CLI, 'ota', 'boot-check', '--config', configFile]);
    assert.match(booted.stdout, /trial 1\.1\.0 boot 1\/3/);

    const parsed = validateConfig(raw);
    assert.ok(parsed.ok);
    const agent = new Agent({
      config: parsed.config,
      logger: silentLogger,
      ota: { version: '1.1.0', restart: () => assert.fail('no restart') },
    });
    await agent.start();
    assert.equal(await agent.otaTrialOutcome(), 'committed');
    await agent.stop();

    const status = JSON.parse(
      (await run(process.execPath, [CLI, 'ota', 'status', '--json', '--config', configFile])).stdout,
    ) as { state: { last: { outcome: string }; events: unknown[] } };
    assert.equal(status.state.last.outcome, 'committed');
    assert.deepEqual(status.state.events, [], 'events handed to the outbox');
    const db = new Database(join(tmp.path, 'outbox.db'), { readonly: true });
    t.after(() => db.close());
    const types = db
      .prepare('SELECT body FROM records WHERE cls = 1')
      .all()
      .map((r) => (JSON.parse((r as { body: string }).body) as { type: string }).type);
    assert.ok(types.includes('ota-committed'), `ota-committed in the outbox (${types.join(', ')})`);
    assert.equal(bootableVersion(ota), '1.1.0');
  });

  it('under the split: the agent asks to commit, root commits, the next start carries ota-committed to the outbox', async (t) => {
    const tmp = tempDir('edge-ota-split-agent-');
    t.after(() => tmp.remove());
    const key = makeKey(tmp.path);
    const ota = testOtaConfig(tmp.path, key, { mode: 'split', brokerOptional: true });
    factoryInstall(ota, '1.0.0');
    const root = new OtaEngine({ config: ota, logger: silentLogger, restart: () => undefined });
    await root.apply({ source: buildBundle(tmp.path, { version: '1.1.0', key }), origin: 'cli' });
    await root.bootCheck();
    const serve = () =>
      serveRequests({
        engine: root,
        config: ota,
        site: 's1',
        agentId: 'a1',
        clock: systemClock,
        logger: silentLogger,
      });
    const parsed = validateConfig({
      agent: { id: 'a1', site: 's1' },
      store: { path: join(tmp.path, 'outbox.db') },
      http: { enabled: false },
      log: { level: 'silent' },
      ota: { ...ota, tls: {} },
    });
    assert.ok(parsed.ok);
    const startStop = async (): Promise<string> => {
      const agent = new Agent({
        config: parsed.config,
        logger: silentLogger,
        ota: { version: '1.1.0', restart: () => assert.fail('no restart') },
      });
      await agent.start();
      const outcome = await agent.otaTrialOutcome();
      await agent.stop();
      return outcome;
    };
    assert.equal(await startStop(), 'committed', 'the agent asked');
    assert.equal((await root.status()).state.step.phase, 'trial', 'only root commits');
    await serve();
    assert.equal((await root.status()).state.last?.outcome, 'committed');
    assert.equal(await startStop(), 'not-on-trial');
    const db = new Database(join(tmp.path, 'outbox.db'), { readonly: true });
    t.after(() => db.close());
    const types = db
      .prepare('SELECT body FROM records WHERE cls = 1')
      .all()
      .map((r) => (JSON.parse((r as { body: string }).body) as { type: string }).type);
    assert.ok(types.includes('ota-committed'), `ota-committed in the outbox (${types.join(', ')})`);
    await serve();
    assert.deepEqual((await root.status()).state.events, [], 'root dropped the events the agent handed on');
  });

  it('boot-check never fails the unit, even with an unreadable config and state', async (t) => {
    const tmp = tempDir('edge-ota-cli-');
    t.after(() => tmp.remove());
    const configFile = join(tmp.path, 'broken.yaml');
    writeFileSync(configFile, 'ota: [not, a, map\n');
    const r = await run(process.execPath, [CLI, 'ota', 'boot-check', '--config', configFile]);
    assert.match(r.stderr, /config unusable/);
  });
});
