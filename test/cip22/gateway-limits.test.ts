/**
 * Gateway limits and failure logging: max sessions and the per-address handshake rate are
 * refused with AUTH_FAIL (not a silent TCP drop) and counted; the replayed-signature
 * branch (nonce-reused); EDGE_ERR_CIP22_* log lines, rate-limited per reason.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type TLSSocket, connect } from 'node:tls';
import { describe, it } from 'node:test';
import { CIP22_REASONS, encodeFrame, encodeMessage } from '../../src/cip22/codec/index.js';
import { authSignedInput, createEphemeral, signAuth } from '../../src/cip22/identity/index.js';
import { cip22Pki } from '../helpers/cip22-pki.js';
import { captureLogger } from '../helpers/logger.js';
import { waitFor } from '../helpers/wait.js';
import { startGateway } from './gateway-fixture.js';
import { CountingSink, InprocPile, StillClock, helloFrame, inprocGateway } from './inproc-pile.js';

/** A TLS connection that never sends HELLO: it holds a session slot (and one rate-limit slot). */
async function idleTls(port: number): Promise<TLSSocket> {
  const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
  s.on('error', () => undefined);
  await new Promise((resolve) => s.once('secureConnect', resolve));
  return s;
}

async function refusal(fx: Awaited<ReturnType<typeof startGateway>>): Promise<number> {
  const pile = fx.pile('p256');
  await pile.connect().then(
    () => assert.fail('connect should be refused'),
    () => undefined,
  );
  const end = await pile.ended;
  assert.equal(end.kind, 'auth-fail');
  return end.kind === 'auth-fail' ? end.reason : -1;
}

describe('CIP-22 gateway limits', () => {
  it('over maxSessions a pile gets AUTH_FAIL too-many-sessions (counted, logged), and a slot frees on close', async (t) => {
    const log = captureLogger();
    const fx = await startGateway({ maxSessions: 2 }, { logger: log });
    const idle = [await idleTls(fx.port), await idleTls(fx.port)];
    t.after(async () => {
      for (const s of idle) s.destroy();
      await fx.stop();
    });
    await waitFor('2 sessions', () => fx.gateway.status().sessions === 2);
    assert.equal(await refusal(fx), CIP22_REASONS['too-many-sessions']);
    assert.equal(fx.gateway.counter('too-many-sessions'), 1);
    assert.ok(
      log.lines.some(
        (l) => l.obj.code === 'EDGE_ERR_CIP22_AUTH_FAILED' && l.obj.reason === 'too-many-sessions',
      ),
      log.text(),
    );
    idle[0]!.destroy();
    await waitFor('slot freed', () => fx.gateway.status().sessions === 1);
    const pile = fx.pile('p256');
    await pile.connect();
    pile.close();
  });

  it('over perIpHandshakesPerMinute an address gets AUTH_FAIL rate-limited, counted', async (t) => {
    const fx = await startGateway({ perIpHandshakesPerMinute: 3 });
    const idle = [await idleTls(fx.port), await idleTls(fx.port)];
    t.after(async () => {
      for (const s of idle) s.destroy();
      await fx.stop();
    });
    const ok = fx.pile('p256');
    await ok.connect();
    ok.close();
    assert.equal(await refusal(fx), CIP22_REASONS['rate-limited']);
    assert.equal(await refusal(fx), CIP22_REASONS['rate-limited']);
    assert.equal(fx.gateway.counter('rate-limited'), 2);
  });

  it('a valid AUTH_RESP whose signature was accepted before is refused nonce-reused (white box: a peer cannot reach it)', () => {
    const clock = new StillClock();
    const gateway = inprocGateway(clock, new CountingSink());
    const pki = cip22Pki();
    const pile = new InprocPile(gateway);
    pile.push(helloFrame(pki.p256.deviceId));
    const c = pile.inbox.find((m) => m.type === 'CHALLENGE');
    assert.ok(c && c.type === 'CHALLENGE');
    const eph = createEphemeral('ecdsa-p256');
    const held = Buffer.alloc(32);
    const signature = signAuth(
      'ecdsa-p256',
      pki.p256.pile.key,
      authSignedInput(c.nonce, pki.p256.deviceId, held, eph.publicKey, c.gatewayEphemeralPub),
    );
    // Only a signature over this session's fresh nonce verifies, so a replay needs the same
    // signature accepted before: pre-record it as the gateway's cache would.
    assert.equal(gateway.replayed(createHash('sha256').update(signature).digest('hex')), false);
    const resp = encodeMessage({
      type: 'AUTH_RESP',
      signature,
      pileCert: pki.p256.pile.der,
      issuerCert: pki.p256.issuing.der,
      pileEphemeralPub: eph.publicKey,
      policyHash: held,
    });
    pile.push(encodeFrame(resp.type, resp.payload));
    const fail = pile.inbox.find((m) => m.type === 'AUTH_FAIL');
    assert.ok(fail && fail.type === 'AUTH_FAIL');
    assert.equal(fail.reason, CIP22_REASONS['nonce-reused']);
    assert.equal(gateway.counter('nonce-reused'), 1);
    assert.equal(pile.session.isClosed, true);
  });

  it('session failures log EDGE_ERR_CIP22_* with the reason, at most 5 per reason and minute, then a summary', () => {
    const clock = new StillClock();
    const log = captureLogger();
    const gateway = inprocGateway(clock, new CountingSink(), {}, log);
    const garbage = encodeFrame(0x7e, Buffer.from([1, 2, 3]));
    for (let i = 0; i < 8; i++) new InprocPile(gateway).push(garbage);
    const lines = (): typeof log.lines =>
      log.lines.filter((l) => String(l.obj.code).startsWith('EDGE_ERR_CIP22_'));
    assert.equal(gateway.counter('unknown-frame-type'), 8);
    assert.equal(lines().length, 5);
    assert.ok(
      lines().every(
        (l) =>
          l.obj.code === 'EDGE_ERR_CIP22_AUTH_FAILED' &&
          l.obj.reason === 'unknown-frame-type' &&
          l.obj.remote === '10.0.0.1',
      ),
    );
    assert.ok(!log.text().includes('PRIVATE'), 'no key material');
    clock.advance(60_000);
    new InprocPile(gateway).push(garbage);
    assert.deepEqual(
      lines()
        .slice(5)
        .map((l) => [l.obj.code, l.obj.suppressed ?? null]),
      [
        ['EDGE_ERR_CIP22_SESSION', 3],
        ['EDGE_ERR_CIP22_AUTH_FAILED', null],
      ],
    );
  });
});
