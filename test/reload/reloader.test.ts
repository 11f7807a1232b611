/**
 * The Reloader's trial on a manual clock, over a stand-in agent: a config stays when the
 * agent is healthy at the end of its window, and comes back to the previous one by itself
 * when the broker is not connected or every device it started is bad. The history keeps
 * the last N configs, refuses a replayed push id, and lets an edited local file win.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { ConfigHistory, startupText } from '../../src/reload/history.js';
import { rollbackFailedStart } from '../../src/reload/runtime.js';
import { configHash } from '../../src/reload/validate.js';
import { tempDir } from '../helpers/tmp.js';
import { setupReloader, type ReloaderSetup, type StandIn } from './stand-in.js';

const WINDOW = 30_000;

function text(devices: string[], extra: Record<string, unknown> = {}): string {
  return stringify({
    agent: { id: 'gw', site: 's' },
    ...extra,
    devices: devices.map((name) => ({
      name,
      driver: 'modbus',
      connection: { transport: 'tcp', host: '127.0.0.1', port: 1502 },
      tags: [{ name: 't0', function: 'holding', address: 0, type: 'u16' }],
    })),
  });
}

function setup(dir: string, problems: string[], initial = text(['a'])): Promise<ReloaderSetup> {
  return setupReloader(dir, problems, initial, WINDOW);
}

const statuses = (target: StandIn): unknown[] => target.events.map((e) => e.data?.status);

describe('Reloader trial', () => {
  const dirs: Array<{ remove(): void }> = [];
  const dir = (): string => {
    const d = tempDir('edge-agent-reloader-');
    dirs.push(d);
    return d.path;
  };
  after(() => dirs.forEach((d) => d.remove()));

  it('healthy at the end of the window: the config stays', async () => {
    const { reloader, target, clock, file, history } = await setup(dir(), []);
    writeFileSync(file, text(['a', 'b']));
    const result = await reloader.reloadFile();
    assert.equal(result.status, 'applied');
    target.stats.set('b', { polls: 2, pollErrors: 0 });
    await clock.advance(WINDOW - 1);
    assert.equal(history.readSync().trial?.hash, result.hash, 'still on trial');
    await clock.advance(1);
    await reloader.whenTrialDecided();
    assert.equal(history.readSync().trial, undefined);
    assert.deepEqual(statuses(target), ['applied', 'applied']);
    assert.equal(target.events.at(-1)?.data?.reason, 'trial passed');
    assert.deepEqual(
      target.running.devices.map((d) => d.name),
      ['a', 'b'],
    );
  });

  it('every device it started is bad: back to the previous config, reason named', async () => {
    const { reloader, target, clock, file, history } = await setup(dir(), []);
    const before = history.readSync().active?.hash;
    writeFileSync(file, text(['a', 'b', 'c']));
    await reloader.reloadFile();
    target.stats.set('b', { polls: 3, pollErrors: 3 });
    target.stats.set('c', { polls: 0, pollErrors: 0 });
    await clock.advance(WINDOW);
    await reloader.whenTrialDecided();
    assert.deepEqual(statuses(target), ['applied', 'rolled-back']);
    assert.match(String(target.events.at(-1)?.data?.reason), /devices: none of b, c polled good/);
    assert.deepEqual(
      target.running.devices.map((d) => d.name),
      ['a'],
    );
    assert.equal(history.readSync().active?.hash, before);
    assert.equal(history.readSync().trial, undefined, 'a rollback is not on trial');
  });

  it('the broker is not connected after a broker change: back, live', async () => {
    const broker = (port: number): Record<string, unknown> => ({
      mqtt: { url: `mqtt://127.0.0.1:${port}`, allowInsecure: true },
    });
    const problems: string[] = [];
    const { reloader, target, clock, file } = await setup(dir(), problems, text(['a'], broker(2)));
    writeFileSync(file, text(['a'], broker(3)));
    await reloader.reloadFile();
    assert.equal(target.forwarders, 1, 'a new forwarder, no restart');
    problems.push('mqtt: not connected (ECONNREFUSED)');
    await clock.advance(WINDOW);
    await reloader.whenTrialDecided();
    assert.equal(target.forwarders, 2, 'the forwarder went back');
    assert.equal(target.running.mqtt.url, 'mqtt://127.0.0.1:2');
    assert.deepEqual(statuses(target), ['applied', 'rolled-back']);
    assert.match(String(target.events.at(-1)?.data?.reason), /trial failed: mqtt: not connected/);
  });

  it('refuses an invalid config whole and keeps the running one', async () => {
    const { reloader, target, file } = await setup(dir(), []);
    writeFileSync(file, `${text(['a', 'b'])}\nbogus: 1\n`);
    const result = await reloader.reloadFile();
    assert.equal(result.status, 'refused');
    assert.deepEqual(
      result.problems?.map((p) => p.path),
      ['(root)'],
    );
    assert.deepEqual(
      target.running.devices.map((d) => d.name),
      ['a'],
    );
  });

  it('alias-bomb-push: a pushed YAML alias bomb is refused with its issue, not thrown, and the running config stays', async () => {
    const { reloader, target } = await setup(dir(), []);
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const [prev, name] of [
      ['a', 'b'],
      ['b', 'c'],
      ['c', 'd'],
      ['d', 'e'],
      ['e', 'f'],
    ])
      levels.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    const result = await reloader.applyText(`${levels.join('\n')}\n`, { source: 'push' });
    assert.equal(result.status, 'refused');
    assert.deepEqual(
      result.problems?.map((p) => p.path),
      ['(yaml)'],
    );
    assert.match(String(result.problems?.[0]?.message), /aliases cannot be expanded/);
    assert.deepEqual(
      target.running.devices.map((d) => d.name),
      ['a'],
    );
  });

  it("refuses what a driver's init() refuses and what a secret cannot resolve, each with its path", async () => {
    const { reloader, target, file } = await setup(dir(), []);
    const config = {
      agent: { id: 'gw', site: 's' },
      mqtt: {
        url: 'mqtt://127.0.0.1:1883',
        allowInsecure: true,
        password: { env: 'EDGE_RELOAD_TEST_UNSET' },
      },
      devices: [
        {
          name: 'label',
          driver: 'modbus',
          connection: { transport: 'tcp', host: '127.0.0.1', port: 1502 },
          maxRegistersPerRequest: 10,
          tags: [{ name: 'serial', function: 'holding', address: 0, type: 'string', length: 20 }],
        },
      ],
    };
    writeFileSync(file, stringify(config));
    const result = await reloader.reloadFile();
    assert.equal(result.status, 'refused');
    assert.deepEqual(result.problems?.map((p) => p.path).sort(), [
      'devices[0].tags[0].length',
      'mqtt.password',
    ]);
    assert.deepEqual(
      target.running.devices.map((d) => d.name),
      ['a'],
    );
  });
});

describe('ConfigHistory', () => {
  const d = tempDir('edge-agent-history-');
  after(() => d.remove());

  it('keeps the last N, refuses a replayed id, and an edited file wins', async () => {
    const history = new ConfigHistory(join(d.path, 'h'), 3, () => 0);
    const texts = ['a', 'b', 'c', 'd', 'e'].map((n) => text([n]));
    for (const t of texts) {
      const hash = await history.store(t);
      await history.activate({ hash, at: 1, source: 'push', fileHash: configHash('file') });
    }
    const state = history.readSync();
    assert.deepEqual(
      state.entries.map((e) => e.hash),
      texts.slice(-3).map(configHash),
    );
    assert.equal(state.previous, configHash(texts[3]!));
    assert.throws(() => history.textSync(configHash(texts[0]!)), /ENOENT/, 'pruned');
    assert.equal(startupText(history, 'file').text, texts[4], 'the active push while the file is unchanged');
    assert.equal(startupText(history, 'edited').text, 'edited', 'an edited file wins');
    assert.equal(await history.claimId('push-00000001', 10, 1), true);
    assert.equal(await history.claimId('push-00000001', 10, 1), false);
    assert.equal(await history.claimId('push-00000001', 10, 11, 1), false, 'kept until it expires');
  });

  it('a config on trial the agent cannot start on: the previous one is restored', async () => {
    const history = new ConfigHistory(join(d.path, 'failed-start'));
    const [good, broken] = [text(['a']), text(['a', 'b'])];
    await history.activate({ hash: await history.store(good), at: 1, source: 'file' });
    await history.activate({ hash: await history.store(broken), at: 2, source: 'push' }, 10_000);
    const startup = { config: {} as never, text: broken, history };
    assert.equal(await rollbackFailedStart(startup, new Error('EADDRINUSE'), 3), true);
    const state = history.readSync();
    assert.equal(state.active?.hash, configHash(good));
    assert.equal(state.trial, undefined);
    assert.match(String(state.pending.at(-1)?.reason), /did not start \(EADDRINUSE\)/);
    assert.equal(
      await rollbackFailedStart({ ...startup, text: good }, new Error('x'), 4),
      false,
      'not on trial',
    );
  });
});
