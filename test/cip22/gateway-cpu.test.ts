/**
 * Unauthenticated CPU (issue 12 item 4): forged SM2 chains cost ~17 ms of pure-JS
 * verification each. With the checks in the worker pool the gateway's event loop stays
 * responsive while 20 clients send forged chains as fast as they can (measured with
 * perf_hooks.monitorEventLoopDelay, asserted p99 < 50 ms — the property the issue asks
 * for; the bound is generous for a loaded 2-core box). The same flood with the checks on
 * the event loop (verify.workers: 0) is the reproduction: its worst lag is at least one
 * verification long. The pool's fairness and bounds are tested directly.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { describe, it, type TestContext } from 'node:test';
import {
  VerifyBusy,
  VerifyPool,
  authJob,
  createEphemeral,
  parseCertificate,
  runVerifyJob,
  signAuth,
  type VerifyJob,
} from '../../src/cip22/identity/index.js';
import { cip22Pki } from '../helpers/cip22-pki.js';
import { waitFor } from '../helpers/wait.js';
import { startGateway } from './gateway-fixture.js';

const CLIENTS = 20;
const FORGED = 120;

interface Lag {
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly forged: number;
  readonly busy: number;
}

/** Floods a gateway with forged chains until it refused FORGED of them; the loop lag meanwhile. */
async function flood(t: TestContext, workers: number): Promise<Lag> {
  const pki = cip22Pki();
  const fx = await startGateway({
    verify: { workers },
    maxPreAuth: 1000,
    maxPreAuthPerSource: 100,
  });
  t.after(() => fx.stop());
  const child = fork(
    join(import.meta.dirname, 'forger.js'),
    [
      String(fx.port),
      String(CLIENTS),
      pki.sm2.pile.certPem.replace(/\.pem$/, '.der'),
      pki.sm2.issuing.dir + '/cert.der',
      pki.sm2.deviceId,
    ],
    { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
  );
  t.after(() => child.kill());
  // The attackers' own CPU is not what is measured: on a 2-core box let the gateway win
  // the scheduler, as the agent's unit would against other load.
  if (child.pid !== undefined) setPriority(child.pid, 19);
  const forged = (): number => fx.gateway.counter('wrong-issuer') + fx.gateway.counter('verify-busy');
  // Measure only while the flood is on: from the first refusal to the FORGED-th.
  await waitFor('flood started', () => forged() > 0, 30_000);
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  await waitFor(`${FORGED} forged chains refused`, () => forged() >= FORGED, 120_000, 50);
  h.disable();
  child.kill();
  return {
    p99Ms: h.percentile(99) / 1e6,
    maxMs: h.max / 1e6,
    forged: forged(),
    busy: fx.gateway.counter('verify-busy'),
  };
}

describe('CIP-22 handshake CPU off the event loop', () => {
  it(`${CLIENTS} clients sending forged SM2 chains: event-loop lag p99 < 50 ms with the worker pool`, async (t) => {
    const lag = await flood(t, 1);
    t.diagnostic(
      `worker pool: p99 ${lag.p99Ms.toFixed(1)} ms, max ${lag.maxMs.toFixed(1)} ms, forged ${lag.forged}, busy ${lag.busy}`,
    );
    assert.ok(lag.p99Ms < 50, `p99 lag ${lag.p99Ms} ms`);
  });

  it('reproduction: the same flood verified on the event loop stalls it for at least one verification', async (t) => {
    const pki = cip22Pki();
    const key = createEphemeral('sm2').publicKey;
    const job: VerifyJob = authJob(
      'sm2',
      key,
      Buffer.from('x'),
      signAuth('sm2', pki.sm2.pile.key, Buffer.from('y')),
    );
    const started = performance.now();
    assert.equal(runVerifyJob(job), false);
    const oneVerifyMs = performance.now() - started;
    const lag = await flood(t, 0);
    t.diagnostic(
      `inline: p99 ${lag.p99Ms.toFixed(1)} ms, max ${lag.maxMs.toFixed(1)} ms (one SM2 verification ${oneVerifyMs.toFixed(1)} ms)`,
    );
    assert.ok(lag.maxMs >= oneVerifyMs / 2, `max lag ${lag.maxMs} ms, one verification ${oneVerifyMs} ms`);
  });
});

describe('VerifyPool', () => {
  const pki = cip22Pki();
  const key = createEphemeral('sm2').publicKey;
  const job = authJob(
    'sm2',
    key,
    Buffer.from('data'),
    signAuth('sm2', pki.sm2.pile.key, Buffer.from('other')),
  );

  it('serves sources round-robin: one flooding source does not delay another', async (t) => {
    const pool = new VerifyPool({ workers: 1, maxQueue: 64, maxQueuePerSource: 4 });
    t.after(() => pool.close());
    const order: string[] = [];
    const track = (name: string, source: string): Promise<void> =>
      Promise.resolve(pool.verify(job, source)).then(() => void order.push(name));
    const all = ['a1', 'a2', 'a3', 'a4'].map((n) => track(n, 'A'));
    all.push(track('b1', 'B'));
    await Promise.all(all);
    assert.deepEqual(order, ['a1', 'a2', 'b1', 'a3', 'a4']);
  });

  it('is bounded per source and in total: more is refused at once (VerifyBusy)', async (t) => {
    const pool = new VerifyPool({ workers: 1, maxQueue: 3, maxQueuePerSource: 2 });
    t.after(() => pool.close());
    const settled: Promise<unknown>[] = [];
    const run = (source: string): Promise<boolean> => {
      const p = Promise.resolve(pool.verify(job, source));
      settled.push(p.catch(() => undefined));
      return p;
    };
    void run('A'); // running
    void run('A');
    void run('A');
    await assert.rejects(run('A'), (e) => e instanceof VerifyBusy && e.scope === 'source');
    void run('B');
    await assert.rejects(run('C'), (e) => e instanceof VerifyBusy && e.scope === 'total');
    assert.deepEqual(pool.counters.refusedSource + pool.counters.refusedTotal, 2);
    await Promise.all(settled);
  });

  it('answers what the job says, in the worker and inline alike', async (t) => {
    const pool = new VerifyPool({ workers: 1, maxQueue: 4, maxQueuePerSource: 4 });
    t.after(() => pool.close());
    const data = Buffer.from('signed');
    const good = authJob('ecdsa-p256', parseKey(), data, signAuth('ecdsa-p256', pki.p256.pile.key, data));
    assert.equal(await pool.verify(good, 'x'), true);
    assert.equal(await pool.verify(job, 'x'), false);
    assert.equal(runVerifyJob(good), true);
  });

  function parseKey(): Buffer {
    const k = parseCertificate(pki.p256.pile.der).publicKey65;
    assert.ok(k);
    return k;
  }
});
