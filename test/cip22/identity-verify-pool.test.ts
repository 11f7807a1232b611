/**
 * The verify pool after issue 16: ECDSA P-256 checks run inline (native, ~0.2 ms; the
 * worker hop was the p99 of a handshake), SM2 checks in the worker, and an SM2 AUTH job
 * can carry the session's ECDH so that Z (~1.4 ms on the SM2 curve) is computed in the
 * same hop, off the event loop.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  VerifyPool,
  authJob,
  certJob,
  createEphemeral,
  parseCertificate,
  signAuth,
} from '../../src/cip22/identity/index.js';
import { cip22Pki } from '../helpers/cip22-pki.js';

describe('VerifyPool: inline P-256, SM2 with its ECDH in the worker', () => {
  const pki = cip22Pki();
  const data = Buffer.from('CIP-22 AUTH test input');

  it('answers a P-256 AUTH job synchronously, counted inline', (t) => {
    const pool = new VerifyPool({ workers: 1, maxQueue: 4, maxQueuePerSource: 4 });
    t.after(() => pool.close());
    const key = parseCertificate(pki.p256.pile.der).publicKey65 as Buffer;
    const good = authJob('ecdsa-p256', key, data, signAuth('ecdsa-p256', pki.p256.pile.key, data));
    const bad = authJob(
      'ecdsa-p256',
      key,
      Buffer.from('other'),
      signAuth('ecdsa-p256', pki.p256.pile.key, data),
    );
    assert.equal(pool.verify(good, 'a'), true);
    assert.equal(pool.verify(bad, 'a'), false);
    assert.equal(pool.counters.inline, 2);
  });

  it('computes Z of an SM2 AUTH job in the worker: the same as computeSecret; none for a bad signature or point', async (t) => {
    const pool = new VerifyPool({ workers: 1, maxQueue: 4, maxQueuePerSource: 4 });
    t.after(() => pool.close());
    const key = parseCertificate(pki.sm2.pile.der).publicKey65 as Buffer;
    const signature = signAuth('sm2', pki.sm2.pile.key, data);
    const gateway = createEphemeral('sm2');
    const pile = createEphemeral('sm2');
    const ecdh = { privateKey: gateway.privateKey, peer: pile.publicKey };
    const pending = pool.run(authJob('sm2', key, data, signature, ecdh), 'a');
    assert.ok(pending instanceof Promise, 'an SM2 job goes to the worker');
    const outcome = await pending;
    assert.equal(outcome.ok, true);
    assert.ok(outcome.z);
    assert.deepEqual(Buffer.from(outcome.z), gateway.computeSecret(pile.publicKey));
    assert.deepEqual(Buffer.from(outcome.z), pile.computeSecret(gateway.publicKey));

    const forged = await pool.run(authJob('sm2', key, Buffer.from('other'), signature, ecdh), 'a');
    assert.deepEqual(forged, { ok: false });
    const offCurve = Buffer.from(pile.publicKey);
    offCurve[64] = offCurve[64]! ^ 1;
    const badPoint = await pool.run(
      authJob('sm2', key, data, signature, { privateKey: gateway.privateKey, peer: offCurve }),
      'a',
    );
    assert.deepEqual(badPoint, { ok: true });
    assert.equal(pool.counters.inline, 0);
  });

  it("a 'cert+auth' job (SM2 first contact): the AUTH check and its Z only when the certificate verifies, in one worker hop", async (t) => {
    const pool = new VerifyPool({ workers: 1, maxQueue: 4, maxQueuePerSource: 4 });
    t.after(() => pool.close());
    const pileCert = parseCertificate(pki.sm2.pile.der);
    const issuing = parseCertificate(pki.sm2.issuing.der);
    const key = pileCert.publicKey65 as Buffer;
    const gateway = createEphemeral('sm2');
    const pile = createEphemeral('sm2');
    const auth = authJob('sm2', key, data, signAuth('sm2', pki.sm2.pile.key, data), {
      privateKey: gateway.privateKey,
      peer: pile.publicKey,
    });
    const cert = certJob({ cert: pileCert, issuer: issuing });
    const both = await pool.run({ kind: 'cert+auth', cert, auth }, 'a');
    assert.equal(both.ok, true);
    assert.equal(both.auth?.ok, true);
    assert.deepEqual(Buffer.from(both.auth?.z ?? []), gateway.computeSecret(pile.publicKey));
    assert.equal(pool.counters.jobs, 1);

    // The pile certificate checked against the wrong key (its own): no AUTH answer at all.
    const forged = certJob({ cert: pileCert, issuer: pileCert });
    assert.deepEqual(await pool.run({ kind: 'cert+auth', cert: forged, auth }, 'a'), { ok: false });
    assert.equal(pool.counters.inline, 0);
  });
});
