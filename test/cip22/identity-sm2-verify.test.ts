/**
 * The SM2 verifier of sm2-verify.ts (issue 16) against the independent implementation
 * (sm-crypto-v2's doVerifySignature) and OpenSSL, and the reason Node's own SM2 cannot
 * replace it (OpenSSL 3.0 in Node 20 verifies SM2 with an empty signer ID only).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, randomBytes, verify as nodeVerify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sm2 } from 'sm-crypto-v2';
import { SM2_SIGNER_ID, parseCertificate, verifyAuth } from '../../src/cip22/identity/index.js';
import { encodeRsSignature } from '../../src/cip22/identity/der.js';
import { verifySm2 } from '../../src/cip22/identity/signature.js';
import { multiplyOnce, sm2Points } from '../../src/cip22/identity/sm2-verify.js';
import { cip22Pki } from '../helpers/cip22-pki.js';
import { tempDir } from '../helpers/tmp.js';

const N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;
const work = tempDir('edge-agent-cip22-sm2v-');
process.once('exit', work.remove);

interface Signed {
  readonly pub65: Buffer;
  readonly data: Buffer;
  readonly r: bigint;
  readonly s: bigint;
  readonly hex: string;
}

function signed(userId: string): Signed {
  const kp = sm2.generateKeyPairHex();
  const data = randomBytes(1 + (randomBytes(1)[0]! % 200));
  const hex = sm2.doSignature(data, kp.privateKey, {
    hash: true,
    der: false,
    userId,
    publicKey: kp.publicKey,
  });
  return {
    pub65: Buffer.from(kp.publicKey, 'hex'),
    data,
    r: BigInt(`0x${hex.slice(0, 64)}`),
    s: BigInt(`0x${hex.slice(64)}`),
    hex,
  };
}

const der = (r: bigint, s: bigint): Buffer => encodeRsSignature(r, s);

function independent(x: Signed, data: Buffer, r: bigint, s: bigint, userId = SM2_SIGNER_ID): boolean {
  const hex = r.toString(16).padStart(64, '0') + s.toString(16).padStart(64, '0');
  return sm2.doVerifySignature(data, hex, x.pub65.toString('hex'), { hash: true, der: false, userId });
}

test('SM2 verify agrees with sm-crypto-v2 on genuine and tampered signatures, cold and hot keys', () => {
  for (let i = 0; i < 12; i++) {
    const x = signed(SM2_SIGNER_ID);
    const flipped = Buffer.from(x.data);
    flipped[0] = flipped[0]! ^ 1;
    const cases: [Buffer, bigint, bigint][] = [
      [x.data, x.r, x.s],
      [flipped, x.r, x.s],
      [x.data, (x.r + 1n) % N || 1n, x.s],
      [x.data, x.r, (x.s + 1n) % N || 1n],
      [x.data, x.s, x.r],
    ];
    for (const [data, r, s] of cases) {
      const expected = independent(x, data, r, s);
      for (const hot of [false, true])
        assert.equal(
          verifySm2(x.pub65, data, der(r, s), [SM2_SIGNER_ID], hot),
          expected,
          `case ${i} hot ${hot}`,
        );
    }
    assert.equal(verifySm2(x.pub65, x.data, der(x.r, x.s)), true);
  }
});

test('SM2 verify: the signer ID counts, and a list of IDs accepts any of them', () => {
  const x = signed('');
  assert.equal(verifyAuth('sm2', x.pub65, x.data, der(x.r, x.s)), false);
  assert.equal(verifySm2(x.pub65, x.data, der(x.r, x.s), ['']), true);
  assert.equal(verifySm2(x.pub65, x.data, der(x.r, x.s), [SM2_SIGNER_ID, '']), true);
  assert.equal(verifySm2(x.pub65, x.data, der(x.r, x.s), [SM2_SIGNER_ID, '1234567812345679']), false);
});

test('SM2 verify refuses a key off the curve and r + s = n', () => {
  const x = signed(SM2_SIGNER_ID);
  const offCurve = Buffer.from(x.pub65);
  offCurve[64] = offCurve[64]! ^ 1;
  assert.equal(verifySm2(offCurve, x.data, der(x.r, x.s)), false);
  assert.equal(verifySm2(offCurve, x.data, der(x.r, x.s), [SM2_SIGNER_ID], true), false);
  assert.equal(verifySm2(x.pub65, x.data, der(x.r, N - x.r)), false);
});

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

test("Node 20's crypto.verify on an SM2 key checks SM2 with the EMPTY signer ID only (why it is not used)", () => {
  const pki = cip22Pki();
  const message = join(work.path, 'm.bin');
  writeFileSync(message, 'CIP-22 AUTH native check');
  const pubPem = join(work.path, 'sm2.pub.pem');
  openssl(['pkey', '-in', pki.sm2.pile.keyPem, '-pubout', '-out', pubPem]);
  const sig = (distid: string | undefined): Buffer => {
    const out = join(work.path, `sig-${distid ?? 'none'}`);
    const opt = distid === undefined ? [] : ['-pkeyopt', `distid:${distid}`];
    openssl([
      'pkeyutl',
      '-sign',
      '-rawin',
      '-digest',
      'sm3',
      '-inkey',
      pki.sm2.pile.keyPem,
      '-in',
      message,
      '-out',
      out,
      ...opt,
    ]);
    return readFileSync(out);
  };
  const data = readFileSync(message);
  const key = createPublicKey(readFileSync(pubPem));
  const pub65 = parseCertificate(pki.sm2.pile.der).publicKey65!;
  const spec = sig(SM2_SIGNER_ID);
  const empty = sig(undefined);
  assert.equal(nodeVerify('sm3', data, key, empty), true, 'native: empty ID verifies');
  assert.equal(nodeVerify('sm3', data, key, spec), false, 'native: the spec ID does not');
  assert.equal(verifyAuth('sm2', pub65, data, spec), true);
  assert.equal(verifyAuth('sm2', pub65, data, empty), false);
});

test('multiplyOnce (the NAF of a new key) equals the bit ladder for edge and random scalars', () => {
  const points = Array.from({ length: 6 }, () => {
    const key = sm2.generateKeyPairHex();
    return { hex: key.publicKey, point: sm2Points().fromHex(key.publicKey) };
  });
  const edges = [1n, 2n, 3n, 15n, 16n, 17n, 31n, 32n, 33n, 0x5555n, 2n ** 255n, N - 2n, N - 1n];
  const random = Array.from({ length: 40 }, () => BigInt(`0x${randomBytes(32).toString('hex')}`) % N);
  for (const [i, k] of [...edges, ...random].entries()) {
    const { hex, point } = points[i % points.length]!;
    assert.ok(multiplyOnce(point, k).equals(point.multiplyUnsafe(k)), `k = ${k.toString(16)}, P = ${hex}`);
  }
  assert.ok(multiplyOnce(points[0]!.point, 0n).is0(), '[0]P is the point at infinity');
});
