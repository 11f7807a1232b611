import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { OtaConfig } from '../../src/config/sections/ota.js';
import { OtaEngine } from '../../src/ota/engine.js';
import { TrialMonitor, type TrialHealth } from '../../src/ota/trial.js';
import { tempDir } from '../helpers/tmp.js';
import { bootableVersion, buildBundle, factoryInstall, makeKey, testOtaConfig } from './helpers.js';

function machine(t: { after(fn: () => void): void }, overrides: Partial<OtaConfig> = {}) {
  const tmp = tempDir('edge-ota-flow-');
  t.after(tmp.remove);
  const key = makeKey(tmp.path);
  const config = testOtaConfig(tmp.path, key, { keepReleases: 2, ...overrides });
  factoryInstall(config, '1.0.0');
  const clock = new ManualClock();
  const restarts: string[] = [];
  const engine = new OtaEngine({
    config,
    logger: silentLogger,
    clock,
    restart: (r) => void restarts.push(r),
  });
  const bundles = tempDir('edge-ota-bundles-');
  t.after(bundles.remove);
  const bundle = (version: string) => buildBundle(bundles.path, { version, key });
  return { config, clock, restarts, engine, bundle };
}

/** Starts a trial monitor and waits until it is armed, so the manual clock drives it. */
async function monitor(
  m: ReturnType<typeof machine>,
  version: string,
  health: () => TrialHealth,
): Promise<{ decided: Promise<string> }> {
  const trial = new TrialMonitor({
    engine: m.engine,
    version,
    windowMs: m.config.trialWindowSec * 1000,
    checkEveryMs: 1000,
    clock: m.clock,
    logger: silentLogger,
    health,
  });
  const decided = trial.start();
  await trial.armed;
  return { decided };
}

describe('OTA flow in a temporary root', () => {
  it('good update: trial → healthy → committed, releases beyond keepReleases cleaned, event carried', async (t) => {
    const m = machine(t);
    mkdirSync(join(m.config.root, 'releases', '0.5.0'));
    await m.engine.apply({ source: m.bundle('1.1.0'), origin: 'cli' });
    assert.deepEqual(m.restarts, ['switched to 1.1.0']);
    const booted = await m.engine.bootCheck();
    assert.equal(booted.step.phase === 'trial' && booted.step.boots, 1);
    let healthy = false;
    const trial = (
      await monitor(m, '1.1.0', () => ({ ok: healthy, problems: healthy ? [] : ['mqtt: not connected'] }))
    ).decided;
    await m.clock.advance(5_000);
    assert.equal((await m.engine.status()).state.step.phase, 'trial', 'not committed while unhealthy');
    healthy = true;
    await m.clock.advance(1_000);
    assert.equal(await trial, 'committed');
    const status = await m.engine.status();
    assert.equal(status.state.step.phase, 'idle');
    assert.equal(status.state.last?.outcome, 'committed');
    assert.deepEqual(
      status.releases,
      ['1.0.0', '1.1.0'],
      '0.5.0 removed: keepReleases 2, current and previous kept',
    );
    assert.deepEqual(
      status.state.events.map((e) => [e.type, e.data]),
      [['ota-committed', { version: '1.1.0', from: '1.0.0', boots: 1, manual: false }]],
    );
    await m.engine.eventsEmitted(1);
    assert.deepEqual((await m.engine.status()).state.events, []);
    assert.equal(bootableVersion(m.config), '1.1.0');
    assert.deepEqual(readdirSync(join(m.config.stateDir, 'downloads')), [], 'no bundle copy left');
  });

  it('a second update after a commit moves previous along; a third trims to keepReleases', async (t) => {
    const m = machine(t);
    for (const v of ['1.1.0', '1.2.0']) {
      await m.engine.apply({ source: m.bundle(v), origin: 'cli' });
      await m.engine.bootCheck();
      await m.engine.healthy(v);
    }
    assert.equal(readlinkSync(join(m.config.root, 'previous')), 'releases/1.1.0');
    assert.deepEqual((await m.engine.status()).releases, ['1.1.0', '1.2.0']);
  });

  it('a release that never becomes healthy is rolled back when the window passes, with a restart', async (t) => {
    const m = machine(t);
    await m.engine.apply({ source: m.bundle('1.1.0'), origin: 'cli' });
    await m.engine.bootCheck();
    const trial = (await monitor(m, '1.1.0', () => ({ ok: false, problems: ['store: not open'] }))).decided;
    await m.clock.advance(119_000);
    assert.equal((await m.engine.status()).state.step.phase, 'trial');
    await m.clock.advance(1_000);
    assert.equal(await trial, 'rolled-back');
    assert.equal(bootableVersion(m.config), '1.0.0');
    const { state } = await m.engine.status();
    assert.deepEqual(state.last && { outcome: state.last.outcome, reason: state.last.reason }, {
      outcome: 'rolled-back',
      reason: 'health-timeout',
    });
    assert.deepEqual(state.events.at(-1)?.data, { reason: 'health-timeout', from: '1.1.0', to: '1.0.0' });
    assert.deepEqual(m.restarts, ['switched to 1.1.0', 'rolled back to 1.0.0 (health-timeout)']);
    // The next start of the old release finds nothing to do.
    assert.equal((await m.engine.bootCheck()).step.phase, 'idle');
  });

  it('a crash-looping release is rolled back by the (maxTrialBoots+1)-th boot-check', async (t) => {
    const m = machine(t);
    await m.engine.apply({ source: m.bundle('1.1.0'), origin: 'cli' });
    for (let boot = 1; boot <= m.config.maxTrialBoots; boot++) {
      const s = await m.engine.bootCheck();
      assert.equal(s.step.phase === 'trial' && s.step.boots, boot);
      assert.equal(bootableVersion(m.config), '1.1.0');
    }
    const s = await m.engine.bootCheck();
    assert.equal(s.step.phase, 'idle');
    assert.equal(s.last?.reason, 'crash-loop');
    assert.equal(bootableVersion(m.config), '1.0.0');
    assert.deepEqual(
      s.events.map((e) => e.type),
      ['ota-rolled-back'],
    );
    assert.deepEqual(m.restarts, ['switched to 1.1.0'], 'boot-check never restarts');
  });

  it('a trial monitor in a process running another version judges nothing', async (t) => {
    const m = machine(t);
    await m.engine.apply({ source: m.bundle('1.1.0'), origin: 'cli' });
    assert.equal(
      await (
        await monitor(m, '1.0.0', () => ({ ok: true, problems: [] }))
      ).decided,
      'not-on-trial',
    );
    assert.equal((await m.engine.status()).state.step.phase, 'trial');
  });

  it('manual commit and manual rollback from the CLI side', async (t) => {
    const m = machine(t);
    await m.engine.apply({ source: m.bundle('1.1.0'), origin: 'cli' });
    await m.engine.commit();
    assert.equal((await m.engine.status()).state.last?.outcome, 'committed');
    await m.engine.rollback();
    assert.equal(bootableVersion(m.config), '1.0.0');
    assert.equal((await m.engine.status()).state.last?.reason, 'manual');
    await assert.rejects(m.engine.commit(), /nothing on trial/);
  });

  it('refuses a new update while one is on trial', async (t) => {
    const m = machine(t);
    await m.engine.apply({ source: m.bundle('1.1.0'), origin: 'cli' });
    await assert.rejects(
      m.engine.apply({ source: m.bundle('1.2.0'), origin: 'cli' }),
      /EDGE_ERR_OTA_BUSY|commit or roll it back/,
    );
    assert.equal(bootableVersion(m.config), '1.1.0');
  });
});
