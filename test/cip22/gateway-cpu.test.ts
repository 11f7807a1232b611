/**
 * Unauthenticated CPU (issue 12 item 4): forged SM2 chains cost ~17 ms of pure-JS
 * verification each, so none of them may run on the gateway's event loop. What this
 * checks is where the verifications ran, counted by the pool: with a worker, every chain
 * of a 20-client flood was verified in it (none inline); with `verify.workers: 0` (the
 * reproduction) every one ran on the event loop. How long the loop stalls meanwhile is a
 * timing, measured by `npm run bench -- cip22` (event-loop lag p99 under the same flood,
 * beside the inline configuration), not asserted here. The pool's fairness and bounds
 * are tested directly below.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  VerifyBusy,
  VerifyPool,
  authJob,
  createEphemeral,
  parseCertificate,
  runVerifyJob,
  signAuth,
} from '../../src/cip22/identity/index.js';
import { cip22Pki } from '../helpers/cip22-pki.js';
import { forgedFlood } from './forged-flood.js';

const FORGED = 40;

/** The pool's job counts over a flood of FORGED refused chains. */
async function flood(workers: number) {
  const { result } = await forgedFlood(workers, FORGED, (gateway) => {
    const at = { ...gateway.signatures.counters };
    return { stop: () => ({ at, end: { ...gateway.signatures.counters } }) };
  });
  const refused = (c: typeof result.at): number => c.refusedSource + c.refusedTotal;
  return {
    jobs: result.end.jobs - result.at.jobs,
    inline: result.end.inline - result.at.inline,
    refused: refused(result.end) - refused(result.at),
  };
}

describe('CIP-22 handshake CPU off the event loop', () => {
  it('a forged SM2 chain flood: every signature is verified in the worker pool, none on the event loop', async (t) => {
    const c = await flood(1);
    t.diagnostic(`pool jobs ${c.jobs}, inline ${c.inline}, refused busy ${c.refused}`);
    assert.equal(c.inline, 0);
    // Verifications handed to the worker: each forged chain that was not refused as busy.
    assert.ok(c.jobs - c.refused > 0, `jobs ${c.jobs}, refused ${c.refused}`);
  });

  it('reproduction: with verify.workers 0 the same flood is verified on the event loop', async () => {
    const c = await flood(0);
    assert.ok(c.jobs > 0);
    assert.equal(c.inline, c.jobs);
    assert.equal(c.refused, 0);
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
