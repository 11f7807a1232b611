/**
 * A real power cut at every step of the privileged update step (issue 12 item 1): the
 * install root, root's OTA state and the agent's staging area live on an ext4 file system
 * on a loop device; the root step (serveRequests) is cut with the ext4 shutdown ioctl at
 * each crash point, so whatever it had not synced is lost. After a remount (journal replay,
 * like a boot) `current` must resolve to a complete release matching its manifest,
 * boot-check must leave nothing half-done, and the next run of the step must end in the
 * expected release. Skips with the reason without root or loop devices; required on CI.
 */
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { needsRoot } from '../helpers/agent-uid.js';
import { createLoopFs, powerCut, powerCutSkip, type LoopFs } from '../helpers/powercut.js';
import { tempDir } from '../helpers/tmp.js';
import { APPLY_POINTS, bootableVersion, buildBundle, makeKey } from './helpers.js';
import { splitMachine, type SplitMachine } from './split-machine.js';

const CHILD = fileURLToPath(new URL('./crash-child.js', import.meta.url));

/** The root step starts from a bundle the agent already fetched: no download points. */
const SERVE_POINTS = APPLY_POINTS.filter((p) => !p.startsWith('download:'));

const skip = powerCutSkip() || needsRoot;

describe('OTA privileged step under a real power cut (ext4 shutdown on a loop device)', { skip }, () => {
  const keys = tempDir('edge-powercut-keys-');
  const key = makeKey(keys.path);
  let fs: LoopFs;
  let bundle = '';
  let n = 0;
  before(() => {
    chmodSync(keys.path, 0o755); // the agent uid reads the bundle from here
    fs = createLoopFs();
    bundle = buildBundle(keys.path, { version: '1.1.0', key, extraBytes: 300_000 });
  });
  after(() => {
    fs.remove();
    keys.remove();
  });

  /** A machine on the loop file system, synced as a box that has been running a while. */
  function machine(): SplitMachine {
    const m = splitMachine(join(fs.mount, `m${++n}`), key);
    execFileSync('sync', ['-f', fs.mount]);
    return m;
  }

  /** The root step in a child, cut at `point`: power off (ioctl), then SIGKILL. */
  async function cutAt(m: SplitMachine, operation: string, point: string, arg = ''): Promise<void> {
    const child = spawn(process.execPath, [CHILD, m.configFile, operation, point, arg], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, POWERCUT_MOUNT: fs.mount },
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    fs.remount();
    assert.equal(signal, 'SIGKILL', `${operation} reached ${point} (exit ${code}: ${output.trim()})`);
  }

  async function booted(m: SplitMachine, allowed: string[]): Promise<string> {
    const version = bootableVersion(m.config);
    assert.ok(allowed.includes(version), `bootable after the power cut: ${version}`);
    const state = await m.engine.bootCheck();
    assert.ok(
      ['idle', 'staging', 'trial'].includes(state.step.phase),
      `nothing half-done: ${state.step.phase}`,
    );
    return state.step.phase;
  }

  it('the cut is real: a synced file survives it, an unsynced one does not (unlike SIGKILL)', () => {
    writeFileSync(join(fs.mount, 'synced'), 'kept');
    execFileSync('sync', ['-f', fs.mount]);
    writeFileSync(join(fs.mount, 'unsynced'), 'lost');
    powerCut(fs.mount);
    fs.remount();
    assert.equal(readFileSync(join(fs.mount, 'synced'), 'utf8'), 'kept');
    assert.equal(existsSync(join(fs.mount, 'unsynced')), false);
  });

  for (const point of SERVE_POINTS) {
    it(`power cut in the root step at ${point}: bootable, then the next run ends committed on 1.1.0`, async () => {
      const m = machine();
      const asked = m.agent('apply', bundle);
      assert.equal(asked.code, 0, asked.out);
      execFileSync('sync', ['-f', fs.mount]); // the agent's request is durable (it fsyncs it)
      await cutAt(m, 'serve', point);
      await booted(m, ['1.0.0', '1.1.0']);
      await m.serve(); // edge-agent-ota.service at boot: finish, then the pending request
      await m.engine.bootCheck();
      assert.equal(bootableVersion(m.config), '1.1.0');
      assert.equal(m.agent('healthy', '1.1.0').code, 0);
      await m.serve();
      const status = await m.engine.status();
      assert.equal(status.state.last?.outcome, 'committed');
      assert.deepEqual(status.releases, ['1.0.0', '1.1.0'], 'no leftovers of the cut unpack');
    });
  }

  async function onTrial(): Promise<SplitMachine> {
    const m = machine();
    m.agent('apply', bundle);
    await m.serve();
    await m.engine.bootCheck();
    execFileSync('sync', ['-f', fs.mount]);
    return m;
  }

  for (const point of ['state:idle', 'cleanup:done']) {
    it(`power cut while committing at ${point}: 1.1.0 stays current and ends committed`, async () => {
      const m = await onTrial();
      m.agent('healthy', '1.1.0');
      execFileSync('sync', ['-f', fs.mount]);
      await cutAt(m, 'serve', point);
      await booted(m, ['1.1.0']);
      await m.serve();
      assert.equal(bootableVersion(m.config), '1.1.0');
      assert.equal((await m.engine.status()).state.last?.outcome, 'committed');
    });
  }

  for (const point of ['state:rolling-back', 'rollback:current', 'state:idle']) {
    it(`power cut in a health-timeout rollback at ${point}: boot-check finishes it on 1.0.0`, async () => {
      const m = await onTrial();
      m.agent('trial-timeout', '1.1.0');
      execFileSync('sync', ['-f', fs.mount]);
      await cutAt(m, 'serve', point);
      await booted(m, ['1.0.0', '1.1.0']);
      await m.serve();
      await m.engine.bootCheck();
      assert.equal(bootableVersion(m.config), '1.0.0');
      assert.equal((await m.engine.status()).state.last?.reason, 'health-timeout');
    });
  }

  for (const point of ['state:rolling-back', 'rollback:current']) {
    it(`power cut in a crash-loop rollback (boot-check, root) at ${point}: the next boot-check finishes it`, async () => {
      const m = await onTrial();
      for (let i = 1; i < m.config.maxTrialBoots; i++) await m.engine.bootCheck();
      execFileSync('sync', ['-f', fs.mount]);
      await cutAt(m, 'boot', point);
      await booted(m, ['1.0.0', '1.1.0']);
      assert.equal(bootableVersion(m.config), '1.0.0');
      assert.equal((await m.engine.status()).state.last?.reason, 'crash-loop');
    });
  }
});
