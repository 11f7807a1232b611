import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { EdgeError } from '../../src/core/errors.js';
import {
  CertificateCache,
  loadRoots,
  parseCertificate,
  verifyCertSignature,
  verifyPileChain,
  type ChainFailure,
  type IdentityAlg,
  type ParsedCertificate,
} from '../../src/cip22/identity/index.js';
import { cip22Pki } from '../helpers/cip22-pki.js';

const pki = cip22Pki();
const { cases } = pki;
const roots = loadRoots([
  readFileSync(pki.sm2.root.certPem),
  pki.p256.root.der,
  readFileSync(cases.noIdRoot.certPem),
]);
const now = Date.now();

interface Attempt {
  pileDer: Buffer;
  issuerDer: Buffer;
  expectedCN?: string;
  expectedAlg?: IdentityAlg;
  pinned?: readonly ParsedCertificate[];
  nowMs?: number;
}

function attempt(input: Attempt) {
  return verifyPileChain({
    pileDer: input.pileDer,
    issuerDer: input.issuerDer,
    roots: input.pinned ?? roots,
    nowMs: input.nowMs ?? now,
    expectedCN: input.expectedCN ?? pki.sm2.deviceId,
    expectedAlg: input.expectedAlg ?? 'sm2',
  });
}

function assertRefused(input: Attempt, reason: ChainFailure, detail?: RegExp): void {
  const result = attempt(input);
  assert.equal(result.ok, false, `expected ${reason}`);
  if (!result.ok) {
    assert.equal(result.reason, reason, result.detail);
    if (detail) assert.match(result.detail, detail);
  }
}

function flip(der: Buffer, offset: number): Buffer {
  const copy = Buffer.from(der);
  copy[offset]! ^= 0x01;
  return copy;
}

test('parseCertificate reads what openssl x509 prints', () => {
  const cert = parseCertificate(pki.sm2.pile.der);
  const text = execFileSync('openssl', [
    'x509',
    '-in',
    pki.sm2.pile.certPem,
    '-noout',
    '-serial',
    '-fingerprint',
    '-sha256',
    '-enddate',
  ]).toString();
  assert.equal(cert.subjectCN, pki.sm2.deviceId);
  assert.equal(cert.subject, `CN=${pki.sm2.deviceId}, O=CIP-22`);
  assert.equal(cert.issuer, 'CN=CIP-22 Test Issuing sm2, O=CIP-22');
  assert.match(text, new RegExp(`serial=${cert.serialHex}`, 'i'));
  assert.match(text, new RegExp(`Fingerprint=${cert.fingerprintSha256.match(/../g)!.join(':')}`, 'i'));
  const notAfter = /notAfter=(.*)/.exec(text)![1]!;
  assert.equal(cert.notAfter, Date.parse(notAfter));
  assert.equal(cert.isCA, false);
  assert.equal(cert.keyAlg, 'sm2');
  assert.equal(cert.sigAlg, 'sm2-sm3');
  assert.equal(cert.publicKey65?.length, 65);
  assert.ok(cert.der.includes(cert.tbs) && cert.tbs.length < cert.der.length);

  const issuing = parseCertificate(pki.sm2.issuing.der);
  assert.equal(issuing.isCA, true);
  assert.equal(issuing.pathLen, 0);
  const p256 = parseCertificate(pki.p256.pile.der);
  assert.equal(p256.keyAlg, 'ecdsa-p256');
  assert.equal(p256.sigAlg, 'ecdsa-sha256');
});

test('verifyCertSignature checks both links made by openssl, for SM2 and P-256', () => {
  for (const alg of ['sm2', 'p256'] as const) {
    const root = parseCertificate(pki[alg].root.der);
    const issuing = parseCertificate(pki[alg].issuing.der);
    const pile = parseCertificate(pki[alg].pile.der);
    assert.equal(verifyCertSignature(pile, issuing), true, `${alg} pile <- issuing`);
    assert.equal(verifyCertSignature(issuing, root), true, `${alg} issuing <- root`);
    assert.equal(verifyCertSignature(root, root), true, `${alg} root self-signature`);
    assert.equal(verifyCertSignature(pile, root), false, `${alg} pile <- root`);
    assert.equal(verifyCertSignature(issuing, pile), false, `${alg} issuing <- pile`);
  }
});

test('SM2 certificates signed without distid (what `openssl verify` 3.0 accepts) also verify', () => {
  const issuing = parseCertificate(cases.noIdIssuing.der);
  assert.equal(verifyCertSignature(parseCertificate(cases.noIdPile.der), issuing), true);
  const checked = execFileSync('openssl', [
    'verify',
    '-CAfile',
    cases.noIdRoot.certPem,
    '-untrusted',
    cases.noIdIssuing.certPem,
    cases.noIdPile.certPem,
  ]).toString();
  assert.match(checked, /: OK/);
  assert.equal(attempt({ pileDer: cases.noIdPile.der, issuerDer: cases.noIdIssuing.der }).ok, true);
});

test('valid SM2 and P-256 chains made by the script verify', () => {
  const sm2 = attempt({ pileDer: pki.sm2.pile.der, issuerDer: pki.sm2.issuing.der });
  assert.equal(sm2.ok, true);
  if (sm2.ok) assert.equal(sm2.pile.subjectCN, pki.sm2.deviceId);
  const p256 = attempt({
    pileDer: pki.p256.pile.der,
    issuerDer: pki.p256.issuing.der,
    expectedCN: pki.p256.deviceId,
    expectedAlg: 'ecdsa-p256',
  });
  assert.equal(p256.ok, true);
});

test('expired and not-yet-valid: pile certificate, issuing CA, and the clock at the edges', () => {
  assertRefused(
    { pileDer: cases.expiredPile.der, issuerDer: pki.sm2.issuing.der },
    'expired',
    /pile certificate expired 2021/,
  );
  assertRefused(
    { pileDer: cases.futurePile.der, issuerDer: pki.sm2.issuing.der },
    'not-yet-valid',
    /pile certificate is valid from 2045/,
  );
  assertRefused(
    { pileDer: cases.pileUnderExpiredIssuing.der, issuerDer: cases.expiredIssuing.der },
    'expired',
    /issuing CA/,
  );
  const pile = parseCertificate(pki.sm2.pile.der);
  const root = parseCertificate(pki.sm2.root.der);
  const good = { pileDer: pki.sm2.pile.der, issuerDer: pki.sm2.issuing.der };
  assert.equal(attempt({ ...good, nowMs: pile.notBefore }).ok, true);
  assertRefused({ ...good, nowMs: pile.notBefore - 1 }, 'not-yet-valid');
  assertRefused({ ...good, nowMs: Math.max(pile.notAfter, root.notAfter) + 1 }, 'expired');
});

test("wrong issuer: another issuing CA's DN, or the right DN with another key", () => {
  assertRefused(
    { pileDer: cases.otherPile.der, issuerDer: pki.sm2.issuing.der },
    'wrong-issuer',
    /issued by "CN=CIP-22 Other Issuing/,
  );
  assertRefused(
    { pileDer: cases.roguePile.der, issuerDer: pki.sm2.issuing.der },
    'wrong-issuer',
    /does not verify/,
  );
  assertRefused(
    {
      pileDer: pki.p256.pile.der,
      issuerDer: pki.sm2.issuing.der,
      expectedAlg: 'ecdsa-p256',
      expectedCN: pki.p256.deviceId,
    },
    'wrong-issuer',
  );
});

test('issuing CA without the CA flag', () => {
  assertRefused(
    { pileDer: cases.pileUnderNotCa.der, issuerDer: cases.notCaIssuing.der },
    'issuer-not-ca',
    /CA:TRUE/,
  );
  // A pile certificate offered as its own issuing CA is not a CA either.
  assertRefused({ pileDer: pki.sm2.pile.der, issuerDer: pki.sm2.pile.der }, 'wrong-issuer');
});

test('unknown root: a complete chain under a root that is not pinned, or no roots at all', () => {
  assertRefused(
    { pileDer: cases.roguePile.der, issuerDer: cases.rogueIssuing.der },
    'unknown-root',
    /not signed by the pinned root/,
  );
  assertRefused({ pileDer: pki.sm2.pile.der, issuerDer: pki.sm2.issuing.der, pinned: [] }, 'unknown-root');
  assertRefused(
    { pileDer: pki.sm2.pile.der, issuerDer: pki.sm2.issuing.der, pinned: loadRoots([pki.p256.root.der]) },
    'unknown-root',
  );
  // Pinning the rogue root makes the rogue chain pass: the check is the pin, nothing else.
  const rogue = loadRoots([cases.rogueRoot.der]);
  assert.equal(
    attempt({ pileDer: cases.roguePile.der, issuerDer: cases.rogueIssuing.der, pinned: rogue }).ok,
    true,
  );
});

test('CN mismatch and algorithm mismatch', () => {
  assertRefused(
    { pileDer: pki.sm2.pile.der, issuerDer: pki.sm2.issuing.der, expectedCN: 'pile-sm2-0002' },
    'cn-mismatch',
  );
  assertRefused(
    { pileDer: pki.sm2.pile.der, issuerDer: pki.sm2.issuing.der, expectedCN: 'PILE-SM2-0001' },
    'cn-mismatch',
  );
  assertRefused(
    {
      pileDer: pki.p256.pile.der,
      issuerDer: pki.p256.issuing.der,
      expectedCN: pki.p256.deviceId,
      expectedAlg: 'sm2',
    },
    'alg-mismatch',
    /ecdsa-p256, expected sm2/,
  );
  assertRefused(
    { pileDer: pki.sm2.pile.der, issuerDer: pki.sm2.issuing.der, expectedAlg: 'ecdsa-p256' },
    'alg-mismatch',
  );
});

test('tampered certificates: a flipped bit in the signature or the TBS of either link', () => {
  for (const alg of ['sm2', 'p256'] as const) {
    const expect = alg === 'sm2' ? {} : { expectedCN: pki.p256.deviceId, expectedAlg: 'ecdsa-p256' as const };
    const pileDer = pki[alg].pile.der;
    const issuerDer = pki[alg].issuing.der;
    const pile = parseCertificate(pileDer);
    const issuer = parseCertificate(issuerDer);
    const signatureAt = (der: Buffer, sig: Buffer): number => der.lastIndexOf(sig) + 8;
    const serialAt = (der: Buffer, cert: ParsedCertificate): number =>
      der.indexOf(Buffer.from(cert.serialHex, 'hex')) + 2;
    assertRefused(
      { pileDer: flip(pileDer, signatureAt(pileDer, pile.signature)), issuerDer, ...expect },
      'wrong-issuer',
      undefined,
    );
    assertRefused({ pileDer: flip(pileDer, serialAt(pileDer, pile)), issuerDer, ...expect }, 'wrong-issuer');
    assertRefused(
      { pileDer, issuerDer: flip(issuerDer, signatureAt(issuerDer, issuer.signature)), ...expect },
      'unknown-root',
    );
    // The issuing CA's serial is not part of any DN, so only the root link breaks.
    assertRefused(
      { pileDer, issuerDer: flip(issuerDer, serialAt(issuerDer, issuer)), ...expect },
      'unknown-root',
    );
  }
});

test('malformed DER in either position is refused as malformed, with the role named', () => {
  assertRefused(
    { pileDer: Buffer.from('not a certificate'), issuerDer: pki.sm2.issuing.der },
    'malformed',
    /^pile certificate/,
  );
  assertRefused(
    { pileDer: pki.sm2.pile.der, issuerDer: pki.sm2.issuing.der.subarray(0, 100) },
    'malformed',
    /^issuing CA certificate/,
  );
  assertRefused(
    { pileDer: Buffer.concat([pki.sm2.pile.der, Buffer.from([0])]), issuerDer: pki.sm2.issuing.der },
    'malformed',
  );
});

test('loadRoots reads DER, PEM and PEM bundles; refuses a PEM without certificates', () => {
  const bundle = Buffer.concat([
    readFileSync(pki.sm2.root.certPem),
    Buffer.from('\n# comment\n'),
    readFileSync(pki.p256.root.certPem),
  ]);
  const loaded = loadRoots([bundle, pki.sm2.root.der]);
  assert.deepEqual(
    loaded.map((root) => root.subjectCN),
    ['CIP-22 Test Root sm2', 'CIP-22 Test Root p256', 'CIP-22 Test Root sm2'],
  );
  assert.throws(
    () => loadRoots([readFileSync(pki.sm2.root.keyPem)]),
    (error: unknown) => error instanceof EdgeError && error.code === 'EDGE_ERR_CIP22_CERT_MALFORMED',
  );
});

test('verifiedLinks: the issuing CA → root link is verified once and only for the exact certificates', () => {
  const verifiedLinks = new Set<string>();
  const good = { pileDer: pki.sm2.pile.der, issuerDer: pki.sm2.issuing.der };
  const verifyGood = () =>
    verifyPileChain({
      ...good,
      roots,
      nowMs: now,
      expectedCN: pki.sm2.deviceId,
      expectedAlg: 'sm2',
      verifiedLinks,
    });
  const first = verifyGood();
  assert.equal(first.ok, true);
  assert.equal(verifiedLinks.size, 1);
  const issuer = parseCertificate(pki.sm2.issuing.der);
  assert.ok([...verifiedLinks][0]!.startsWith(issuer.fingerprintSha256));
  const again = verifyGood();
  assert.equal(again.ok, true);
  // A rogue chain is not cached and still fails; other pile checks still run on a cache hit.
  const rogue = verifyPileChain({
    pileDer: cases.roguePile.der,
    issuerDer: cases.rogueIssuing.der,
    roots,
    nowMs: now,
    expectedCN: pki.sm2.deviceId,
    expectedAlg: 'sm2',
    verifiedLinks,
  });
  assert.equal(rogue.ok ? 'ok' : rogue.reason, 'unknown-root');
  const wrongCn = verifyPileChain({
    ...good,
    roots,
    nowMs: now,
    expectedCN: 'someone-else',
    expectedAlg: 'sm2',
    verifiedLinks,
  });
  assert.equal(wrongCn.ok ? 'ok' : wrongCn.reason, 'cn-mismatch');
  assert.equal(verifiedLinks.size, 1);
});

test("CertificateCache: a reconnecting pile is not signature-checked again, only its CA's parse is kept; dates, CN and tampering still decide", () => {
  const cache = new CertificateCache(8);
  const good = {
    pileDer: pki.sm2.pile.der,
    issuerDer: pki.sm2.issuing.der,
    roots,
    expectedCN: pki.sm2.deviceId,
    expectedAlg: 'sm2' as const,
    cache,
  };
  assert.equal(verifyPileChain({ ...good, nowMs: now }).ok, true);
  assert.deepEqual(cache.size, { parsed: 1, links: 1, failures: 0 }, "the pile's parse is not kept");
  assert.equal(verifyPileChain({ ...good, nowMs: now }).ok, true);
  assert.deepEqual(cache.size, { parsed: 1, links: 1, failures: 0 }, 'the second handshake hit the cache');
  const late = verifyPileChain({ ...good, nowMs: parseCertificate(pki.sm2.pile.der).notAfter + 1 });
  assert.equal(late.ok ? 'ok' : late.reason, 'expired');
  assert.equal(verifyPileChain({ ...good, nowMs: now, expectedCN: 'someone-else' }).ok, false);
  const tampered = Buffer.from(pki.sm2.pile.der);
  tampered[tampered.length - 10]! ^= 0x01; // inside the signature: other bytes, so no cache hit
  const forged = verifyPileChain({ ...good, pileDer: tampered, nowMs: now });
  assert.equal(forged.ok ? 'ok' : forged.reason, 'wrong-issuer');
  for (let i = 0; i < 20; i++) {
    const other = Buffer.from(pki.sm2.pile.der);
    other[other.length - 1 - i]! ^= 0x80;
    verifyPileChain({ ...good, pileDer: other, nowMs: now });
  }
  assert.ok(cache.size.parsed <= 8 && cache.size.links <= 8, 'bounded');
});
