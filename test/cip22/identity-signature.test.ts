import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgeError } from '../../src/core/errors.js';
import { parseCertificate, signAuth, verifyAuth, SM2_SIGNER_ID } from '../../src/cip22/identity/index.js';
import { verifyCertSignature } from '../../src/cip22/identity/certificate.js';
import { p256KeyRemembered } from '../../src/cip22/identity/signature.js';
import { cip22Pki } from '../helpers/cip22-pki.js';
import { tempDir } from '../helpers/tmp.js';

const pki = cip22Pki();
const work = tempDir('edge-agent-cip22-sig-');
process.once('exit', work.remove);
const message = Buffer.from('CIP-22 AUTH interop message \u00e9\u4e2d', 'utf8');
const messageFile = join(work.path, 'msg.bin');
writeFileSync(messageFile, message);

function openssl(args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString() };
  } catch (error) {
    return { ok: false, out: String((error as { stdout?: Buffer }).stdout ?? '') };
  }
}

function publicKeyPem(keyPem: string, name: string): string {
  const out = join(work.path, `${name}.pub.pem`);
  assert.ok(openssl(['pkey', '-in', keyPem, '-pubout', '-out', out]).ok);
  return out;
}

const sm2 = {
  key: pki.sm2.pile.key,
  keyPem: pki.sm2.pile.keyPem,
  pub65: parseCertificate(pki.sm2.pile.der).publicKey65!,
};
const p256 = {
  key: pki.p256.pile.key,
  keyPem: pki.p256.pile.keyPem,
  pub65: parseCertificate(pki.p256.pile.der).publicKey65!,
};

function sm2PkeyutlSign(distid: string | undefined): Buffer {
  const out = join(work.path, `sm2-${distid ?? 'none'}.sig`);
  const opts = distid === undefined ? [] : ['-pkeyopt', `distid:${distid}`];
  assert.ok(
    openssl([
      'pkeyutl',
      '-sign',
      '-rawin',
      '-digest',
      'sm3',
      '-inkey',
      sm2.keyPem,
      '-in',
      messageFile,
      '-out',
      out,
      ...opts,
    ]).ok,
  );
  return readFileSync(out);
}

function sm2PkeyutlVerify(signature: Buffer, distid: string): boolean {
  const sigFile = join(work.path, 'sm2-check.sig');
  writeFileSync(sigFile, signature);
  const pub = publicKeyPem(sm2.keyPem, 'sm2');
  const result = openssl([
    'pkeyutl',
    '-verify',
    '-rawin',
    '-digest',
    'sm3',
    '-pubin',
    '-inkey',
    pub,
    '-in',
    messageFile,
    '-sigfile',
    sigFile,
    '-pkeyopt',
    `distid:${distid}`,
  ]);
  return result.ok && result.out.includes('Signature Verified Successfully');
}

test('SM2: a signature made by openssl pkeyutl (SM3, distid 1234567812345678) verifies with verifyAuth', () => {
  for (let i = 0; i < 3; i += 1) {
    const signature = sm2PkeyutlSign(SM2_SIGNER_ID);
    assert.equal(verifyAuth('sm2', sm2.pub65, message, signature), true);
    assert.equal(verifyAuth('sm2', sm2.pub65, Buffer.concat([message, Buffer.from([0])]), signature), false);
  }
});

test('SM2: a signature with another signer ID (openssl default, empty) is refused', () => {
  assert.equal(verifyAuth('sm2', sm2.pub65, message, sm2PkeyutlSign(undefined)), false);
  assert.equal(verifyAuth('sm2', sm2.pub65, message, sm2PkeyutlSign('1234567812345679')), false);
});

test('SM2: signAuth output verifies with openssl pkeyutl -verify distid:1234567812345678, and only with that ID', () => {
  for (let i = 0; i < 3; i += 1) {
    const signature = signAuth('sm2', sm2.key, message);
    assert.equal(sm2PkeyutlVerify(signature, SM2_SIGNER_ID), true);
    assert.equal(verifyAuth('sm2', sm2.pub65, message, signature), true);
  }
  assert.equal(sm2PkeyutlVerify(signAuth('sm2', sm2.key, message), '1234567812345679'), false);
});

test('SM2: signAuth accepts a KeyObject made from the PEM', () => {
  const signature = signAuth('sm2', createPrivateKey(sm2.key), message);
  assert.equal(sm2PkeyutlVerify(signature, SM2_SIGNER_ID), true);
});

test('SM2: Node crypto.sign on the SM2 key is not an SM2 signature (why sm-crypto-v2 is used)', async () => {
  const { sign } = await import('node:crypto');
  const ecdsaOnSm2Curve = sign('sm3', message, createPrivateKey(sm2.key));
  assert.equal(verifyAuth('sm2', sm2.pub65, message, ecdsaOnSm2Curve), false);
  assert.equal(sm2PkeyutlVerify(ecdsaOnSm2Curve, SM2_SIGNER_ID), false);
});

test('ECDSA P-256: openssl dgst -sha256 -sign verifies with verifyAuth; signAuth verifies with openssl dgst -verify', () => {
  const sigFile = join(work.path, 'p256.sig');
  assert.ok(openssl(['dgst', '-sha256', '-sign', p256.keyPem, '-out', sigFile, messageFile]).ok);
  assert.equal(verifyAuth('ecdsa-p256', p256.pub65, message, readFileSync(sigFile)), true);
  assert.equal(verifyAuth('ecdsa-p256', p256.pub65, Buffer.from('other'), readFileSync(sigFile)), false);

  const mine = join(work.path, 'p256-mine.sig');
  writeFileSync(mine, signAuth('ecdsa-p256', p256.key, message));
  const pub = publicKeyPem(p256.keyPem, 'p256');
  const result = openssl(['dgst', '-sha256', '-verify', pub, '-signature', mine, messageFile]);
  assert.equal(result.ok, true);
  assert.match(result.out, /Verified OK/);
});

test("an algorithm never verifies the other algorithm's signature or key", () => {
  const sm2Sig = signAuth('sm2', sm2.key, message);
  const p256Sig = signAuth('ecdsa-p256', p256.key, message);
  assert.equal(verifyAuth('ecdsa-p256', sm2.pub65, message, sm2Sig), false);
  assert.equal(verifyAuth('sm2', p256.pub65, message, p256Sig), false);
  assert.equal(verifyAuth('ecdsa-p256', p256.pub65, message, sm2Sig), false);
});

test('signAuth refuses a key of the wrong curve, a public key, an RSA key and garbage with EDGE_ERR_CIP22_KEY_INVALID', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
  const cases: [string, () => unknown][] = [
    ['SM2 key for ecdsa-p256', () => signAuth('ecdsa-p256', sm2.key, message)],
    ['P-256 key for sm2', () => signAuth('sm2', p256.key, message)],
    ['RSA', () => signAuth('sm2', rsa, message)],
    ['not PEM', () => signAuth('sm2', 'not a key', message)],
    [
      'public key PEM',
      () => signAuth('ecdsa-p256', readFileSync(publicKeyPem(p256.keyPem, 'p256b'), 'utf8'), message),
    ],
  ];
  for (const [name, run] of cases) {
    assert.throws(
      run,
      (error: unknown) => error instanceof EdgeError && error.code === 'EDGE_ERR_CIP22_KEY_INVALID',
      name,
    );
  }
});

test('verifyAuth returns false, never throws, on garbage keys and signatures', () => {
  const good = signAuth('sm2', sm2.key, message);
  const n = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;
  const rs = (r: bigint, s: bigint): Buffer => {
    const int = (v: bigint): Buffer => {
      let hex = v.toString(16);
      if (hex.length % 2) hex = `0${hex}`;
      const raw = Buffer.from(hex, 'hex');
      const body = raw[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), raw]) : raw;
      return Buffer.concat([Buffer.from([0x02, body.length]), body]);
    };
    const content = Buffer.concat([int(r), int(s)]);
    return Buffer.concat([Buffer.from([0x30, content.length]), content]);
  };
  const badSignatures = [
    Buffer.alloc(0),
    Buffer.from([0x30]),
    Buffer.from([0x30, 0x00]),
    Buffer.from([0x30, 0x80, 0, 0]),
    Buffer.concat([good, Buffer.from([0])]),
    good.subarray(0, good.length - 1),
    rs(0n, 1n),
    rs(1n, 0n),
    rs(n, 1n),
    rs(1n, n),
    rs(n - 1n, n - 1n),
    Buffer.alloc(72, 0xff),
  ];
  const badKeys = [
    Buffer.alloc(0),
    Buffer.alloc(65),
    Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]),
    sm2.pub65.subarray(0, 33),
  ];
  for (const alg of ['sm2', 'ecdsa-p256'] as const) {
    const key = alg === 'sm2' ? sm2.pub65 : p256.pub65;
    for (const signature of badSignatures) assert.equal(verifyAuth(alg, key, message, signature), false);
    for (const badKey of badKeys) assert.equal(verifyAuth(alg, badKey, message, good), false);
    assert.equal(verifyAuth(alg, key, undefined as unknown as Buffer, good), false);
    assert.equal(verifyAuth(alg, key, message, undefined as unknown as Buffer), false);
  }
  assert.equal(verifyAuth('rsa' as 'sm2', sm2.pub65, message, good), false);
});

test("ECDSA P-256: a pile's AUTH key is not kept imported, an issuing CA's key is", () => {
  // A gateway held a KeyObject (~2 KB native) per pile it had seen; only issuer keys verify again and again.
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const pile65 = Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x as string, 'base64url'),
    Buffer.from(jwk.y as string, 'base64url'),
  ]);
  const signature = signAuth('ecdsa-p256', privateKey, message);
  assert.equal(verifyAuth('ecdsa-p256', pile65, message, signature), true);
  assert.equal(p256KeyRemembered(pile65), false, 'the AUTH key is not kept');
  assert.equal(verifyAuth('ecdsa-p256', pile65, message, signature), true, 'and verifies again');
  const pile = parseCertificate(pki.p256.pile.der);
  const issuing = parseCertificate(pki.p256.issuing.der);
  assert.equal(verifyCertSignature(pile, issuing), true);
  assert.equal(p256KeyRemembered(issuing.publicKey65 as Buffer), true, "the issuer's key is kept");
  assert.equal(p256KeyRemembered(pile.publicKey65 as Buffer), false);
});
