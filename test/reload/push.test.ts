/**
 * Signed config pushes on agent/config/set through a real mosquitto, to the real CLI: a
 * valid fleet document (no agent section, several sites) is applied; an invalid one is
 * refused with the problem's path; a replayed one and one for another site are refused; one
 * whose broker is unreachable restarts, fails its trial and comes back to the previous
 * config by itself, with nothing lost (no seq hole, no bad value across both restarts).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { keyIdOf } from '../../src/ota/manifest.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { startPymodbus, type Peer } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { spawnAgent, type AgentProcess } from '../agent/harness.js';
import { assertNothingLost, SiteWatcher } from './peers.js';

const SITE = 'reload-push';

function device(name: string, port: number, intervalMs = 100): Record<string, unknown> {
  return {
    name,
    driver: 'modbus',
    connection: { transport: 'tcp', host: '127.0.0.1', port },
    intervalMs,
    tags: [{ name: 't0', function: 'holding', address: 0, type: 'u16' }],
  };
}

describe('signed config push over MQTT', { timeout: 180_000 }, () => {
  let modbus: Peer;
  let modbusPort: number;
  let broker: MosquittoBroker;
  const dir = tempDir('edge-agent-push-');
  let key: { privateKey: KeyObject; keyId: string; pem: string };

  before(async () => {
    modbusPort = await freePort();
    modbus = await startPymodbus({
      transport: 'tcp',
      port: modbusPort,
      slaves: { 1: { holding: { values: { 0: [7] } } } },
    });
    broker = await startMosquitto();
    const pair = generateKeyPairSync('ed25519');
    const pem = join(dir.path, 'config-key.pem');
    writeFileSync(pem, pair.publicKey.export({ format: 'pem', type: 'spki' }));
    key = { privateKey: pair.privateKey, keyId: keyIdOf(pair.publicKey), pem };
  });

  after(async () => {
    await broker?.close();
    await modbus?.stop();
    dir.remove();
  });

  let n = 0;
  function signed(config: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
    const now = Date.now();
    const text = JSON.stringify({
      type: 'config-set',
      id: `push-${process.pid}-${++n}`,
      sites: ['elsewhere', SITE],
      issuedAt: now,
      expiresAt: now + 600_000,
      config: stringify(config),
      ...extra,
    });
    return JSON.stringify({
      command: text,
      keyId: key.keyId,
      sig: sign(null, Buffer.from(text), key.privateKey).toString('base64'),
    });
  }

  it('applies, refuses with paths, refuses replays and rolls an unreachable broker back', async () => {
    const local = {
      agent: { id: 'gw', site: SITE },
      store: { path: join(dir.path, 'outbox.db') },
      mqtt: { url: broker.url, allowInsecure: true },
      http: { enabled: false },
      log: { level: 'warn' },
      reload: {
        historyDir: join(dir.path, 'history'),
        trialWindowSec: 1,
        commands: true,
        publicKeys: [key.pem],
      },
      devices: [device('d1', modbusPort)],
    };
    const file = join(dir.path, 'config.yaml');
    writeFileSync(file, stringify(local));
    // The fleet template: no agent section (each station keeps its own id and site).
    const { agent: _agent, reload: _reload, ...fleet } = local;
    const watcher = await SiteWatcher.connect(broker.url, `edge/${SITE}`);
    const setTopic = `edge/${SITE}/agent/config/set`;
    let agent: AgentProcess = spawnAgent(file);
    const results = (status: string): Array<Record<string, unknown>> =>
      watcher.results.filter((r) => r.status === status);
    try {
      await waitFor(`d1 polls\n${agent.output()}`, () => watcher.telemetry('d1').length >= 3, 20_000);

      const valid = signed(
        { ...fleet, devices: [device('d1', modbusPort), device('d2', modbusPort)] },
        { version: 'fleet-7' },
      );
      await watcher.publish(setTopic, valid);
      const applied = await waitFor(`applied\n${agent.output()}`, () =>
        results('applied').find((r) => r.version === 'fleet-7'),
      );
      assert.deepEqual(applied.changes, ['devices added: d2']);
      await waitFor('d2 polls', () => watcher.telemetry('d2').length >= 3);

      await watcher.publish(
        setTopic,
        signed({ ...fleet, devices: [{ ...device('d1', modbusPort), tags: [] }] }),
      );
      const refused = await waitFor('refused', () => results('refused')[0]);
      assert.deepEqual(
        (refused.problems as Array<{ path: string }>).map((p) => p.path),
        ['devices[0].tags'],
      );

      await watcher.publish(setTopic, valid);
      await waitFor('replay refused', () =>
        results('refused').find((r) => String(r.reason).startsWith('replayed')),
      );
      await watcher.publish(setTopic, signed(fleet, { sites: ['elsewhere'] }));
      await waitFor('wrong site refused', () =>
        results('refused').find((r) => String(r.reason).startsWith('wrong-site')),
      );

      // An unreachable broker, live: the forwarder moves to it, the trial fails, it comes back.
      const deadPort = await freePort();
      const dead = {
        ...fleet,
        mqtt: { url: `mqtt://127.0.0.1:${deadPort}`, allowInsecure: true },
        devices: [device('d1', modbusPort), device('d2', modbusPort)],
      };
      await watcher.publish(setTopic, signed(dead, { version: 'fleet-8-bad' }));
      const liveBack = await waitFor(
        `live rollback\n${agent.output()}`,
        () => results('rolled-back').find((r) => r.hash === applied.hash),
        30_000,
      );
      assert.match(String(liveBack.reason), /trial failed: mqtt: not connected/);
      assert.equal(agent.child.exitCode, null, 'no restart for a broker change');
      const seen = watcher.results.length;

      // The same with a key that needs a restart (log): exit 75 (systemd restarts), the trial
      // spans the restart, fails, and the rollback restarts again.
      await watcher.publish(
        setTopic,
        signed({ ...dead, log: { level: 'error' } }, { version: 'fleet-9-bad' }),
      );
      let exit = await agent.exited;
      assert.equal(exit.code, 75, agent.output());
      agent = spawnAgent(file); // systemd's Restart=on-failure: starts on the pushed config, on trial
      exit = await agent.exited;
      assert.equal(exit.code, 75, `trial failed → rollback restart\n${agent.output()}`);
      agent = spawnAgent(file); // back on the previous config
      const rolledBack = await waitFor(
        `rolled-back result after restarts\n${agent.output()}`,
        () => watcher.results.slice(seen).find((r) => r.status === 'rolled-back'),
        30_000,
      );
      assert.match(String(rolledBack.reason), /trial failed: mqtt: not connected/);
      assert.equal(rolledBack.hash, applied.hash);
      // The results go out on their topic at once; their outbox events follow through the drain.
      const configEvents = (): unknown[] =>
        watcher.records.filter((r) => r.event?.type === 'config-result').map((r) => r.event?.data?.status);
      await waitFor(`config-result events in the outbox: ${configEvents().join()}`, () => {
        const events = configEvents();
        return events.includes('rolled-back') && events.includes('refused') && events.includes('applied');
      });
      const history = JSON.parse(readFileSync(join(dir.path, 'history', 'state.json'), 'utf8')) as {
        active: { hash: string; source: string };
      };
      assert.deepEqual(history.active.hash, applied.hash);
      assert.equal(history.active.source, 'rollback');

      const before = watcher.telemetry('d1').length;
      await waitFor('polling goes on', () => watcher.telemetry('d1').length > before + 3);
      agent.child.kill('SIGTERM');
      assert.equal((await agent.exited).code, 0, agent.output());
      await waitFor('the last records arrive', () => watcher.status.some((s) => s.state === 'offline'));
      assertNothingLost(watcher, ['d1', 'd2']);
    } finally {
      if (agent.child.exitCode === null) agent.child.kill('SIGKILL');
      await watcher.close();
    }
  });
});
