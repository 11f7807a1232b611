/**
 * SIGKILL at every step of download, verify, unpack, switch, commit and rollback. After
 * each kill `current` must resolve to a complete release whose files match its manifest,
 * `boot-check` must leave nothing half-switched, and resuming (or the normal trial) must
 * end in the expected release.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../src/core/ports.js';
import type { OtaConfig } from '../../src/config/sections/ota.js';
import { OtaEngine } from '../../src/ota/engine.js';
import { createTestCerts } from '../helpers/certs.js';
import { rangeServer } from '../helpers/range-server.js';
import { tempDir } from '../helpers/tmp.js';
import {
  APPLY_POINTS,
  bootableVersion,
  buildBundle,
  factoryInstall,
  makeKey,
  testOtaConfig,
} from './helpers.js';

const CHILD = fileURLToPath(new URL('./crash-child.js', import.meta.url));

describe('OTA crash injection (SIGKILL at every step)', () => {
  const certs = createTestCerts();
  const tmp = tempDir('edge-ota-crash-');
  const key = makeKey(tmp.path);
  const bundle = readFileSync(buildBundle(tmp.path, { version: '1.1.0', key, extraBytes: 400_000 }));
  const ranges: string[] = [];
  const server = rangeServer(certs, bundle, ranges);
  let url = '';
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/edge-agent-1.1.0.tar.gz`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    certs.remove();
    tmp.remove();
  });

  let n = 0;
  function freshMachine(): { config: OtaConfig; configFile: string; engine: OtaEngine } {
    const dir = join(tmp.path, `m${++n}`);
    const config = testOtaConfig(dir, key, { tls: { ca: certs.ca } });
    factoryInstall(config, '1.0.0');
    const configFile = join(tmp.path, `m${n}.json`);
    writeFileSync(configFile, JSON.stringify(config));
    return {
      config,
      configFile,
      engine: new OtaEngine({ config, logger: silentLogger, downloadBackoffMs: 0, restart: () => undefined }),
    };
  }

  /** Async, not spawnSync: the child downloads from the server running in this process. */
  async function killAt(configFile: string, operation: string, point: string, arg: string): Promise<void> {
    const child = spawn(process.execPath, [CHILD, configFile, operation, point, arg], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    assert.equal(
      signal,
      'SIGKILL',
      `${operation} reached ${point} and was killed (exit ${code}: ${output.trim()})`,
    );
  }

  async function bootChecked(
    m: { config: OtaConfig; engine: OtaEngine },
    allowed: string[],
  ): Promise<string> {
    const before = bootableVersion(m.config);
    assert.ok(allowed.includes(before), `bootable after the kill: ${before}`);
    const state = await m.engine.bootCheck();
    assert.ok(
      ['idle', 'staging', 'trial'].includes(state.step.phase),
      `boot-check leaves nothing half-done (${state.step.phase})`,
    );
    return state.step.phase;
  }

  for (const point of APPLY_POINTS) {
    it(`apply killed at ${point}: bootable, then resumes to a committed 1.1.0`, async () => {
      const m = freshMachine();
      ranges.length = 0;
      await killAt(m.configFile, 'apply', point, url);
      const phase = await bootChecked(m, ['1.0.0', '1.1.0']);
      if (phase === 'staging') {
        await m.engine.resume();
        await m.engine.bootCheck();
      }
      if (point === 'download:chunk')
        assert.equal(ranges.length, 1, 'the resumed download asked for the rest only');
      assert.equal(bootableVersion(m.config), '1.1.0');
      await m.engine.healthy('1.1.0');
      const status = await m.engine.status();
      assert.equal(status.state.last?.outcome, 'committed');
      assert.deepEqual(status.releases, ['1.0.0', '1.1.0'], 'no leftovers of the killed unpack');
    });
  }

  async function onTrial(): Promise<ReturnType<typeof freshMachine>> {
    const m = freshMachine();
    await m.engine.apply({ source: url, origin: 'command' });
    await m.engine.bootCheck();
    return m;
  }

  for (const point of ['state:idle', 'cleanup:done']) {
    it(`commit killed at ${point}: 1.1.0 stays current and committed`, async () => {
      const m = await onTrial();
      await killAt(m.configFile, 'commit', point, '1.1.0');
      await bootChecked(m, ['1.1.0']);
      assert.equal((await m.engine.status()).state.last?.outcome, 'committed');
    });
  }

  for (const point of ['state:rolling-back', 'rollback:current', 'state:idle']) {
    it(`health-timeout rollback killed at ${point}: boot-check finishes it on 1.0.0`, async () => {
      const m = await onTrial();
      await killAt(m.configFile, 'trial-timeout', point, '1.1.0');
      assert.equal(await bootChecked(m, ['1.0.0', '1.1.0']), 'idle');
      assert.equal(bootableVersion(m.config), '1.0.0');
      assert.equal((await m.engine.status()).state.last?.reason, 'health-timeout');
    });
  }

  for (const point of ['state:rolling-back', 'rollback:current']) {
    it(`crash-loop rollback in boot-check killed at ${point}: the next boot-check finishes it`, async () => {
      const m = await onTrial();
      for (let i = 1; i < m.config.maxTrialBoots; i++) await m.engine.bootCheck();
      await killAt(m.configFile, 'boot', point, '');
      assert.equal(await bootChecked(m, ['1.0.0', '1.1.0']), 'idle');
      assert.equal(bootableVersion(m.config), '1.0.0');
      assert.equal((await m.engine.status()).state.last?.reason, 'crash-loop');
    });
  }
});
