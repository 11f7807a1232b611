/**
 * The CIP-22 section reloads live (SIGHUP on the real CLI): the gateway alone stops and
 * starts again; the pile simulator reconnects and resends what was not acknowledged, every
 * record it sent is in the outbox once, and the Modbus device beside it keeps its
 * connection with no seq hole and no bad value.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { cip22Pki } from '../helpers/cip22-pki.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { startPymodbus, type Peer } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { CLI, spawnAgent } from '../agent/harness.js';
import { pileSimArgs, serverChainPem } from '../cip22/gateway-proc.js';
import { assertNothingLost, countingProxy, SiteWatcher, type CountingProxy } from './peers.js';

const SITE = 'reload-cip22';

/** Something listens on the loopback port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('CIP-22 gateway reloads live (SIGHUP, pile simulator)', { timeout: 120_000 }, () => {
  const dir = tempDir('edge-agent-reload-cip22-');
  let modbus: Peer;
  let proxy: CountingProxy;
  let broker: MosquittoBroker;

  before(async () => {
    const port = await freePort();
    modbus = await startPymodbus({
      transport: 'tcp',
      port,
      slaves: { 1: { holding: { values: { 0: [7] } } } },
    });
    proxy = await countingProxy(port);
    broker = await startMosquitto();
  });

  after(async () => {
    await proxy?.close();
    await broker?.close();
    await modbus?.stop();
    dir.remove();
  });

  it('restarts the gateway alone: piles reconnect, nothing they sent is lost', async () => {
    const pki = cip22Pki();
    const store = join(dir.path, 'outbox.db');
    const pilePort = await freePort();
    const httpPort = await freePort();
    const config = (heartbeatMs: number, port = pilePort): string =>
      stringify({
        agent: { id: 'gw', site: SITE },
        store: { path: store },
        mqtt: { url: broker.url, allowInsecure: true },
        http: { host: '127.0.0.1', port: httpPort },
        log: { level: 'warn' },
        reload: { historyDir: join(dir.path, 'history'), trialWindowSec: 1 },
        cip22: {
          enabled: true,
          host: '127.0.0.1',
          port,
          tls: { cert: serverChainPem(dir.path), key: { file: pki.p256.server.keyPem } },
          roots: [pki.sm2.root.certPem, pki.p256.root.certPem],
          perIpHandshakesPerMinute: 100_000,
          heartbeatMs,
        },
        devices: [
          {
            name: 'meter',
            driver: 'modbus',
            connection: { transport: 'tcp', host: '127.0.0.1', port: proxy.port },
            intervalMs: 100,
            tags: [{ name: 'v', function: 'holding', address: 0, type: 'u16' }],
          },
        ],
      });
    const file = join(dir.path, 'config.yaml');
    writeFileSync(file, config(30_000));
    const watcher = await SiteWatcher.connect(broker.url, `edge/${SITE}`);
    const agent = spawnAgent(file);
    let sim: ReturnType<typeof spawn> | undefined;
    try {
      await waitFor(`meter polls\n${agent.output()}`, () => watcher.telemetry('meter').length >= 3, 20_000);
      const stateDir = join(dir.path, 'state');
      // piles status every 100 ms for 6 s: the reload lands in the middle of their traffic
      sim = spawn(
        process.execPath,
        [CLI, ...pileSimArgs(dir.path, pilePort, 100), '--duration-s', '6', '--state-dir', stateDir],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      sim.stdout!.on('data', (b: Buffer) => (out += b.toString()));
      sim.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      const simExit = new Promise<number | null>((resolve) => sim!.once('exit', resolve));
      // Each pile has a sealed session and traffic when the reload lands (10 records in all
      // let one pile be still in its handshake on a busy host). A handshake in progress is
      // refused with shutting-down like a session (finishing it would only hold the stop up:
      // the old gateway closes it right after AUTH_OK), and the simulator then reconnects
      // (test/cip22/pile-sim-refusal.test.ts).
      const piles = [pki.sm2.deviceId, pki.p256.deviceId];
      await waitFor(
        `records of each pile arrive\n${err}\n${agent.output()}`,
        () => piles.every((id) => watcher.telemetry(id).length >= 5),
        20_000,
      );

      writeFileSync(file, config(20_000));
      agent.child.kill('SIGHUP');
      const applied = await waitFor(`applied\n${agent.output()}`, () =>
        watcher.results.find((r) => r.status === 'applied' && Array.isArray(r.changes)),
      );
      assert.deepEqual(applied.changes, ['cip22 changed (gateway restarts, piles reconnect)']);

      assert.equal(await simExit, 0, `pile-sim: ${err}`);
      const summary = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, number>;
      assert.equal(summary.refused, 0, err);
      assert.ok((summary.reconnects ?? 0) >= 2, `each pile reconnected after the reload: ${out}`);
      assert.equal(summary.unacked, 0);
      assert.equal(summary.acked, summary.sent);
      assert.equal(proxy.connections(), 1, 'the Modbus device kept its connection');

      // A gateway that cannot start (its new port is taken): the previous one comes back.
      const blocker = createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      try {
        writeFileSync(file, config(20_000, (blocker.address() as AddressInfo).port));
        agent.child.kill('SIGHUP');
        const back = await waitFor(`rolled back\n${agent.output()}`, () =>
          watcher.results.find((r) => r.status === 'rolled-back'),
        );
        assert.match(String(back.reason), /apply failed/);
      } finally {
        await new Promise((resolve) => blocker.close(resolve));
      }
      await waitFor('the previous gateway listens again', () => accepts(pilePort));
      assert.equal(proxy.connections(), 1, 'the Modbus device kept its connection');

      agent.child.kill('SIGTERM');
      assert.equal((await agent.exited).code, 0, agent.output());
      await waitFor('the last records arrive', () => watcher.status.some((s) => s.state === 'offline'));
      assertNothingLost(watcher, ['meter']);

      // The forwarder deletes what the broker acknowledged: the broker's copy is the record.
      for (const id of [pki.sm2.deviceId, pki.p256.deviceId]) {
        const seqs = watcher
          .telemetry(id)
          .map((r) => r.values?.msg_seq?.v)
          .filter((v) => typeof v === 'number');
        const nextSeq = (
          JSON.parse(readFileSync(join(stateDir, `${id}.json`), 'utf8')) as { nextSeq: number }
        ).nextSeq;
        assert.equal(new Set(seqs).size, seqs.length, `${id}: a msg_seq forwarded twice`);
        assert.equal(seqs.length, nextSeq, `${id}: every frame the pile sent is forwarded`);
      }
    } finally {
      if (sim && sim.exitCode === null) sim.kill('SIGKILL');
      if (agent.child.exitCode === null) agent.child.kill('SIGKILL');
      await watcher.close();
    }
  });
});
