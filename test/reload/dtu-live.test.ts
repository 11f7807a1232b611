/**
 * DTU links reload live (SIGHUP on the real CLI): two DTU simulators dial the agent, each
 * bridging to its own pymodbus RTU slave on a socat pty. Changing one link re-registers
 * that link alone: the other simulator sees no new connection and its device polls on with
 * no seq hole and no bad value. A removed link's device stops; an added link comes up.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { startDtuSimulator, type DtuSimulator } from '../../src/tools/dtu-sim/simulator.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { startPtyPair, startPymodbus, type Peer, type PtyPair } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { spawnAgent } from '../agent/harness.js';
import { assertNothingLost, SiteWatcher } from './peers.js';

const SITE = 'reload-dtu';

// Liveness of 2 s (20 heartbeats of 100 ms): a shared CI box stalls a process for some
// hundred ms, which with 3 missed heartbeats closed link a and failed 'no new connection'.
function link(name: string, registration: string, missedHeartbeats = 20): Record<string, unknown> {
  return {
    name,
    mode: 'server',
    registration: { ascii: registration },
    heartbeat: { hex: 'FE' },
    heartbeatIntervalMs: 100,
    missedHeartbeats,
  };
}

function device(name: string, dtu: string): Record<string, unknown> {
  return {
    name,
    driver: 'modbus',
    connection: { transport: 'dtu', dtu },
    unitId: 1,
    intervalMs: 200,
    timeoutMs: 500,
    tags: [{ name: 'v', function: 'holding', address: 0, type: 'u16' }],
  };
}

describe('DTU links reload live (SIGHUP, two DTU simulators)', { timeout: 120_000 }, () => {
  const dir = tempDir('edge-agent-reload-dtu-');
  const ptys: PtyPair[] = [];
  const slaves: Peer[] = [];
  const sims: DtuSimulator[] = [];
  let broker: MosquittoBroker;

  before(async () => {
    for (const [i, value] of [101, 202].entries()) {
      const pty = await startPtyPair(dir.path, `pty${i}`);
      ptys.push(pty);
      slaves.push(
        await startPymodbus({
          transport: 'rtu',
          path: pty.b,
          ignoreMissing: true,
          slaves: { 1: { holding: { values: { 0: [value] } } } },
        }),
      );
    }
    broker = await startMosquitto();
  });

  after(async () => {
    for (const sim of sims) await sim.close();
    await broker?.close();
    for (const s of slaves) await s.stop();
    for (const p of ptys) await p.stop();
    dir.remove();
  });

  it('changes, removes and adds one link while the other keeps its connection', async () => {
    const dtuPort = await freePort();
    const base = {
      agent: { id: 'gw', site: SITE },
      store: { path: join(dir.path, 'outbox.db') },
      mqtt: { url: broker.url, allowInsecure: true },
      http: { host: '127.0.0.1', port: await freePort() },
      log: { level: 'warn' },
      reload: { historyDir: join(dir.path, 'history'), trialWindowSec: 3 },
    };
    const config = (links: unknown[], devices: unknown[], maxLinks = 16): string =>
      stringify({ ...base, dtu: { server: { host: '127.0.0.1', port: dtuPort, maxLinks }, links }, devices });
    const file = join(dir.path, 'config.yaml');
    writeFileSync(
      file,
      config([link('a', 'DTU-A'), link('b', 'DTU-B')], [device('ma', 'a'), device('mb', 'b')]),
    );
    const watcher = await SiteWatcher.connect(broker.url, `edge/${SITE}`);
    const agent = spawnAgent(file);
    const simulator = (pty: PtyPair, registration: string): Promise<DtuSimulator> =>
      startDtuSimulator({
        agent: { host: '127.0.0.1', port: dtuPort },
        serial: { path: pty.a, baudRate: 9600 },
        registration: `ascii:${registration}`,
        heartbeat: 'hex:FE',
        heartbeatIntervalMs: 50,
        reconnectDelayMs: 100,
      });
    const good = (name: string, value: number, from = 0): boolean =>
      watcher
        .telemetry(name)
        .slice(from)
        .some((r) => r.good && r.values?.v?.v === value);
    const trialPassed = (n: number) => () =>
      watcher.results.filter((r) => r.status === 'applied' && r.reason === 'trial passed').length >= n;
    try {
      await waitFor(`the agent is up\n${agent.output()}`, () => watcher.status.length > 0, 20_000);
      const simA = await simulator(ptys[0]!, 'DTU-A');
      sims.push(simA);
      let simB = await simulator(ptys[1]!, 'DTU-B');
      sims.push(simB);
      await waitFor(
        `both links poll good\n${agent.output()}`,
        () => good('ma', 101) && good('mb', 202),
        30_000,
      );

      // 1. Link b (its liveness) and the listener change: b re-registers through the new
      // listener, a keeps the socket the old listener accepted.
      writeFileSync(
        file,
        config([link('a', 'DTU-A'), link('b', 'DTU-B', 25)], [device('ma', 'a'), device('mb', 'b')], 8),
      );
      const mbBefore = watcher.telemetry('mb').length;
      agent.child.kill('SIGHUP');
      const applied = await waitFor(`applied\n${agent.output()}`, () =>
        watcher.results.find((r) => r.status === 'applied' && Array.isArray(r.changes)),
      );
      assert.deepEqual(applied.changes, [
        'device mb changed: dtu.links[b]',
        'dtu listener changed (registered links keep their sockets)',
        'dtu links replaced: b',
      ]);
      await waitFor(`b polls good again\n${agent.output()}`, () => good('mb', 202, mbBefore));
      await waitFor(`trial passed\n${agent.output()}`, trialPassed(1));
      assert.equal(simA.stats().connects, 1, 'link a: no new connection');
      assert.equal(simB.stats().connects, 2, 'link b: registered again');

      // 2. Link b is removed with its device: mb stops, ma polls on.
      writeFileSync(file, config([link('a', 'DTU-A')], [device('ma', 'a')], 8));
      agent.child.kill('SIGHUP');
      await waitFor(`removal applied\n${agent.output()}`, () =>
        watcher.results.some((r) => Array.isArray(r.changes) && String(r.changes).includes('removed: mb')),
      );
      await simB.close();
      sims.splice(sims.indexOf(simB), 1);
      // mb's last readings, stored before the removal, may still be on their way through
      // the outbox after the result (published directly): count once ma has moved on.
      const maAt = watcher.telemetry('ma').length;
      await waitFor('ma polls on', () => watcher.telemetry('ma').length > maAt + 5);
      const mbStopped = watcher.telemetry('mb').length;
      await waitFor('ma polls on further', () => watcher.telemetry('ma').length > maAt + 10);
      assert.equal(watcher.telemetry('mb').length, mbStopped, 'removed link: its device stopped');

      // 3. A new link (c, the same DTU under another name) comes up with its device.
      writeFileSync(
        file,
        config([link('a', 'DTU-A'), link('c', 'DTU-C')], [device('ma', 'a'), device('mc', 'c')], 8),
      );
      agent.child.kill('SIGHUP');
      await waitFor(`addition applied\n${agent.output()}`, () =>
        watcher.results.some((r) => Array.isArray(r.changes) && String(r.changes).includes('added: mc')),
      );
      simB = await simulator(ptys[1]!, 'DTU-C');
      sims.push(simB);
      await waitFor(`c polls good\n${agent.output()}`, () => good('mc', 202));
      await waitFor(`trial passed\n${agent.output()}`, trialPassed(2));
      assert.equal(simA.stats().connects, 1, 'link a: still its first connection');

      agent.child.kill('SIGTERM');
      assert.equal((await agent.exited).code, 0, agent.output());
      await waitFor('the last records arrive', () => watcher.status.some((s) => s.state === 'offline'));
      // ma: link-down only before its DTU first dialled in; from its first good poll on, all good.
      assertNothingLost(watcher, ['ma'], { badAllowed: true });
      // In seq order: with the default interleave drain, live records may overtake the
      // backlog of the first seconds (written before the broker link was up).
      const ma = [...watcher.telemetry('ma')].sort((x, y) => Number(x.seq) - Number(y.seq));
      const bad = ma.slice(ma.findIndex((r) => r.good)).filter((r) => !r.good);
      assert.deepEqual(bad, [], 'ma: no bad value through the reloads');
      assert.ok(ma.length > 20, `ma polled throughout (${ma.length})`);
      // mb published link-down while b re-registered (re-created devices may): no hole all the same.
      assertNothingLost(watcher, ['mb', 'mc'], { badAllowed: true });
    } finally {
      if (agent.child.exitCode === null) agent.child.kill('SIGKILL');
      await watcher.close();
    }
  });
});
