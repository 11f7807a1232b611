/**
 * Live reload by SIGHUP of the real CLI against real Modbus servers (pymodbus behind
 * counting proxies) and a real mosquitto: unchanged devices keep their connection (zero new
 * TCP connections) and their seq runs on without a hole or a bad value; a changed device
 * reconnects alone; a removed one stops; an added one starts. An invalid config is refused
 * with every problem's path and the running config stays.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { startPymodbus, type Peer } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { CLI, spawnAgent } from '../agent/harness.js';
import { assertNothingLost, countingProxy, SiteWatcher, type CountingProxy } from './peers.js';

const SITE = 'reload-live';
const execFileAsync = promisify(execFile);

/** The CLI, asynchronously: the proxies in this process must keep serving meanwhile. */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function device(name: string, port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    driver: 'modbus',
    connection: { transport: 'tcp', host: '127.0.0.1', port },
    intervalMs: 100,
    tags: [{ name: 't0', function: 'holding', address: 0, type: 'u16' }],
    ...extra,
  };
}

describe('live reload (SIGHUP) against real Modbus servers', { timeout: 120_000 }, () => {
  let modbus: Peer;
  let broker: MosquittoBroker;
  const proxies: Record<string, CountingProxy> = {};
  const dir = tempDir('edge-agent-reload-');

  before(async () => {
    const port = await freePort();
    modbus = await startPymodbus({
      transport: 'tcp',
      port,
      slaves: { 1: { holding: { values: { 0: [11, 12, 13] } } } },
    });
    broker = await startMosquitto();
    for (const name of ['u', 's', 'c', 'r', 'n']) proxies[name] = await countingProxy(port);
  });

  after(async () => {
    for (const p of Object.values(proxies)) await p.close();
    await broker?.close();
    await modbus?.stop();
    dir.remove();
  });

  it('applies only the difference; an invalid config is refused with paths', async () => {
    const p = (name: string): number => proxies[name]!.port;
    const httpPort = await freePort();
    const base = {
      agent: { id: 'gw', site: SITE },
      store: { path: join(dir.path, 'outbox.db') },
      mqtt: { url: broker.url, allowInsecure: true },
      http: { host: '127.0.0.1', port: httpPort },
      log: { level: 'warn' },
      reload: { historyDir: join(dir.path, 'history'), trialWindowSec: 1 },
    };
    const v1 = {
      ...base,
      devices: [
        device('u1', p('u')),
        device('s1', p('s')),
        device('s2', p('s')),
        device('c1', p('c')),
        device('r1', p('r')),
      ],
    };
    const file = join(dir.path, 'config.yaml');
    writeFileSync(file, stringify(v1));
    const watcher = await SiteWatcher.connect(broker.url, `edge/${SITE}`);
    const agent = spawnAgent(file);
    try {
      const polled = (name: string, n: number): boolean => watcher.telemetry(name).length >= n;
      await waitFor(
        `telemetry of every device\n${agent.output()}`,
        () => ['u1', 's1', 's2', 'c1', 'r1'].every((d) => polled(d, 3)),
        20_000,
      );
      assert.deepEqual(Object.fromEntries(Object.entries(proxies).map(([k, v]) => [k, v.connections()])), {
        u: 1,
        s: 1,
        c: 1,
        r: 1,
        n: 0,
      });
      const hashBefore = (watcher.status.at(-1)?.config as { hash?: string } | undefined)?.hash;
      assert.match(hashBefore ?? '', /^[0-9a-f]{64}$/, 'birth message names the config hash');

      const v2 = {
        ...base,
        devices: [
          device('u1', p('u')),
          device('s1', p('s')),
          device('s2', p('s'), {
            tags: [
              { name: 't0', function: 'holding', address: 0, type: 'u16' },
              { name: 't1', function: 'holding', address: 1, type: 'u16' },
            ],
          }),
          device('c1', p('c'), { intervalMs: 150 }),
          device('n1', p('n')),
        ],
      };
      writeFileSync(file, stringify(v2));
      const before = { u1: watcher.telemetry('u1').length, s1: watcher.telemetry('s1').length };
      agent.child.kill('SIGHUP');
      const applied = await waitFor(`applied result\n${agent.output()}`, () =>
        watcher.results.find((r) => r.status === 'applied' && Array.isArray(r.changes)),
      );
      assert.deepEqual(
        (applied.changes as string[]).sort(),
        [
          'device c1 changed: intervalMs',
          'device s2 changed: tags[1]',
          'devices added: n1',
          'devices removed: r1',
        ].sort(),
      );
      await waitFor(
        's2 reads its new tag, n1 polls',
        () => watcher.telemetry('s2').some((r) => r.values?.t1?.v === 12) && polled('n1', 3),
      );
      await waitFor(
        'unchanged devices keep polling',
        () =>
          watcher.telemetry('u1').length > before.u1 + 5 && watcher.telemetry('s1').length > before.s1 + 5,
      );
      const afterApply = Object.fromEntries(Object.entries(proxies).map(([k, v]) => [k, v.connections()]));
      // u1 and the s line (s1 unchanged, s2 changed on the same connection): zero new connections.
      assert.deepEqual(afterApply, { u: 1, s: 1, c: 2, r: 1, n: 1 });
      const r1Count = watcher.telemetry('r1').length;

      // Invalid: a schema error and an unknown key; every problem named, nothing changes.
      const bad = {
        ...v2,
        devices: [{ ...device('u1', p('u')), intervalMs: -5 }, ...v2.devices.slice(1)],
        bogus: 1,
      };
      writeFileSync(file, stringify(bad));
      // `edge-agent reload` finds the agent by its pid file, signals it and prints the result.
      const cli = await run(['reload', '--config', file]);
      assert.equal(cli.code, 1, cli.stdout + cli.stderr);
      assert.match(cli.stdout, /^refused /);
      assert.match(cli.stdout, /devices\[0\]\.intervalMs: /);
      const refused = await waitFor('refused result', () =>
        watcher.results.find((r) => r.status === 'refused'),
      );
      const paths = (refused.problems as Array<{ path: string }>).map((x) => x.path);
      assert.ok(paths.includes('devices[0].intervalMs'), paths.join());
      assert.ok(paths.includes('(root)'), paths.join());
      await waitFor(
        'polling goes on after the refusal',
        () => watcher.telemetry('u1').length > before.u1 + 15,
      );
      assert.equal(proxies.u!.connections(), 1);
      assert.equal(watcher.telemetry('r1').length, r1Count, 'removed device no longer polls');

      const state = JSON.parse(readFileSync(join(dir.path, 'history', 'state.json'), 'utf8')) as {
        active: { hash: string; source: string };
        entries: unknown[];
      };
      assert.equal(state.active.source, 'reload');
      assert.equal(state.active.hash, applied.hash);

      // History and rollback from the CLI: back to v1, r1 polls again.
      const history = await run(['config', 'history', '--config', file]);
      assert.equal(history.code, 0, history.stderr);
      assert.match(history.stdout, new RegExp(`^\\* ${String(applied.hash).slice(0, 12)} .* reload$`, 'm'));
      const diff = await run(['config', 'diff', '--config', file]);
      assert.match(diff.stdout, /devices added: n1/);
      writeFileSync(file, stringify(v2));
      const back = await run(['config', 'rollback', '--config', file]);
      assert.equal(back.code, 0, back.stdout + back.stderr);
      assert.match(back.stdout, /^rolled-back /);
      await waitFor('r1 polls again', () => watcher.telemetry('r1').length > r1Count + 3);
      const status = (await (await fetch(`http://127.0.0.1:${httpPort}/status.json`)).json()) as {
        agent: { config: { hash: string } };
      };
      const v1Hash = status.agent.config.hash;
      assert.match(back.stdout, new RegExp(`^rolled-back ${v1Hash.slice(0, 12)}`));

      // A changed device that cannot poll good within the trial: the previous config comes back.
      const deadPort = await freePort();
      const cBefore = proxies.c!.connections();
      writeFileSync(
        file,
        stringify({ ...v1, devices: v1.devices.map((d) => (d.name === 'c1' ? device('c1', deadPort) : d)) }),
      );
      agent.child.kill('SIGHUP');
      const failed = await waitFor(`device trial rollback\n${agent.output()}`, () =>
        watcher.results.find(
          (r) => r.status === 'rolled-back' && r.hash === v1Hash && String(r.reason).includes('c1'),
        ),
      );
      assert.match(String(failed.reason), /trial failed: devices: none of c1 polled good/);
      await waitFor('c1 back on its server', () => proxies.c!.connections() > cBefore);
      const c1Good = watcher.telemetry('c1').length;
      await waitFor('c1 polls good again', () =>
        watcher
          .telemetry('c1')
          .slice(c1Good)
          .some((r) => r.good),
      );

      agent.child.kill('SIGTERM');
      const exit = await agent.exited;
      assert.equal(exit.code, 0, agent.output());
      await waitFor('the last records arrive', () => watcher.status.some((s) => s.state === 'offline'));
      assertNothingLost(watcher, ['u1', 's1', 's2', 'r1', 'n1']);
      // c1 published bad values while its trial config pointed at a dead port (that is the
      // point): its seq has no hole all the same.
      assertNothingLost(watcher, ['c1'], { badAllowed: true });
    } finally {
      if (agent.child.exitCode === null) agent.child.kill('SIGKILL');
      await watcher.close();
    }
  });
});
