/**
 * Hostile-field review of the reloader's decisions: a reload during another config's
 * trial, a trial a restart interrupted, the version shown after a rollback, a fleet
 * template that is not a mapping, and the size of a refusal. The replay, pid-file, size
 * and key guards are in guard.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { EdgeConfig } from '../../src/config/schema.js';
import { ConfigHistory } from '../../src/reload/history.js';
import { withStationKeys } from '../../src/reload/remote.js';
import { configHash } from '../../src/reload/validate.js';
import { tempDir } from '../helpers/tmp.js';
import { config } from './guard-rig.js';
import { setupReloader } from './stand-in.js';

const d = tempDir();
after(() => d.remove());

describe('a reload while another config is on trial', () => {
  const WINDOW = 30_000;
  const broker = (port: number): Record<string, unknown> => ({
    mqtt: { url: `mqtt://127.0.0.1:${port}`, allowInsecure: true },
  });

  it('a failed trial goes back to a config that was on trial itself: on trial again, then back to the good one', async () => {
    const dir = join(d.path, 'trial');
    const historyDir = join(dir, 'history');
    mkdirSync(dir, { recursive: true });
    const good = config('a', historyDir, broker(2));
    const problems: string[] = [];
    const { reloader, target, clock, file, history } = await setupReloader(dir, problems, good, WINDOW);
    // B: a broker the station cannot reach
    writeFileSync(file, config('a', historyDir, broker(3)));
    assert.equal((await reloader.reloadFile()).status, 'applied');
    problems.push('mqtt: not connected (ECONNREFUSED)');
    await clock.advance(WINDOW / 2);
    // C, during B's trial: B's broker plus a device that polls fine
    writeFileSync(file, config(['a', 'b'], historyDir, broker(3)));
    assert.equal((await reloader.reloadFile()).status, 'applied');
    target.stats.set('b', { polls: 2, pollErrors: 0 });
    const cDecided = reloader.whenTrialDecided();
    await clock.advance(WINDOW);
    await cDecided;
    assert.equal(target.running.mqtt.url, 'mqtt://127.0.0.1:3', 'first back to B, which was never judged');
    assert.equal(history.readSync().trial?.hash, reloader.info().hash, 'B on trial again');
    const bDecided = reloader.whenTrialDecided();
    await clock.advance(WINDOW);
    await bDecided;
    assert.equal(target.running.mqtt.url, 'mqtt://127.0.0.1:2', 'back on the broker that worked');
    assert.equal(history.readSync().active?.hash, configHash(good));
    assert.equal(reloader.info().hash, configHash(good));
    assert.deepEqual(
      target.running.devices.map((x) => x.name),
      ['a'],
    );
    await reloader.stop();
  });
});

describe('a fleet template filled with the station identity', () => {
  const running = { agent: { id: 'gw', site: 's' } } as unknown as EdgeConfig;

  it('a document that is not a mapping, or whose agent is not one, is left to the validation', () => {
    // These threw inside the push handler: the id was spent and no result was ever published.
    for (const text of ['agent:\ndevices: []\n', 'agent: 5\ndevices: []\n', '- a\n- b\n', '"x"\n'])
      assert.equal(withStationKeys(text, running), text);
    assert.match(withStationKeys('devices: []\n', running), /agent:\n {2}id: gw\n {2}site: s/);
  });
});

describe('the version of the active config', () => {
  it('a rollback to a pushed config shows that config’s version again', async () => {
    const dir = join(d.path, 'version');
    mkdirSync(dir, { recursive: true });
    const historyDir = join(dir, 'history');
    const problems: string[] = [];
    const { reloader, clock, target } = await setupReloader(dir, problems, config('a', historyDir), 30_000);
    const v1 = await reloader.applyText(config(['a', 'b'], historyDir), { source: 'push', version: 'v1' });
    assert.equal(v1.status, 'applied');
    target.stats.set('b', { polls: 1, pollErrors: 0 });
    await clock.advance(30_000);
    await reloader.whenTrialDecided();
    assert.deepEqual(reloader.info(), { hash: v1.hash, version: 'v1', trial: false });
    await reloader.applyText(config(['a', 'c'], historyDir), { source: 'push', version: 'v2' });
    problems.push('mqtt: not connected (ECONNREFUSED)');
    await clock.advance(30_000);
    await reloader.whenTrialDecided();
    assert.deepEqual(reloader.info(), { hash: v1.hash, version: 'v1', trial: false });
    await reloader.stop();
  });
});

describe('a trial that a restart or a power cut interrupted', () => {
  it('is judged a full window after the agent is back, not at once at start', async () => {
    const dir = join(d.path, 'resume');
    mkdirSync(dir, { recursive: true });
    const historyDir = join(dir, 'history');
    const [good, next] = [config('a', historyDir), config(['a', 'b'], historyDir)];
    const before = new ConfigHistory(historyDir, 3);
    await before.activate({ hash: await before.store(good), at: 1, source: 'file' });
    // The station was off for longer than the window: the stored deadline has passed.
    await before.activate({ hash: await before.store(next), at: 2, source: 'push' }, Date.now() - 60_000);
    let healthyAt = Infinity;
    const ctx: { clock?: { now(): number } } = {};
    // Just after a start the broker is not connected yet; it is a second later.
    const problems = (): string[] => ((ctx.clock?.now() ?? 0) < healthyAt ? ['mqtt: not connected'] : []);
    const { reloader, clock, target, history } = await setupReloader(dir, problems, next, 30_000);
    ctx.clock = clock;
    healthyAt = clock.now() + 1_000;
    target.stats.set('b', { polls: 1, pollErrors: 0 });
    await clock.advance(30_000);
    await reloader.whenTrialDecided();
    assert.equal(history.readSync().active?.hash, configHash(next), 'the healthy config stays');
    assert.equal(history.readSync().trial, undefined, 'its trial passed');
    await reloader.stop();
  });
});

describe('the size of a refusal', () => {
  it('a config with thousands of problems is refused with a bounded list', async () => {
    const dir = join(d.path, 'many');
    mkdirSync(dir, { recursive: true });
    const historyDir = join(dir, 'history');
    const { reloader, file, history } = await setupReloader(dir, [], config('a', historyDir), 30_000);
    // 3000 devices without tags: one problem each (a typo in a fleet template does this)
    const broken = stringify({
      agent: { id: 'gw', site: 's' },
      devices: Array.from({ length: 3000 }, (_, i) => ({
        name: `d${i}`,
        driver: 'modbus',
        connection: { transport: 'tcp', host: '127.0.0.1', port: 1502 },
        tags: [],
      })),
    });
    writeFileSync(file, broken);
    const result = await reloader.reloadFile();
    assert.equal(result.status, 'refused');
    const problems = result.problems ?? [];
    assert.ok(problems.length <= 51, `${problems.length} problems in one result`);
    assert.match(problems.at(-1)?.message ?? '', /2950 more problems/);
    assert.ok(JSON.stringify(history.readSync()).length < 20_000, 'state.json stays small');
    await reloader.stop();
  });
});
