/**
 * Pinned roots that share a DN (a root rollover; P-256 and SM2 roots made with the
 * script's default names): which root the chain check asks to verify the issuing CA, and
 * how often. Before issue 16 item 4, a root earlier in the list that did not verify the CA
 * was tried again on every handshake: for SM2 a failed check and a worker round trip.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CertificateCache,
  loadRoots,
  parseCertificate,
  verifyCertSignature,
  verifyPileChainWith,
  type ChainResult,
  type ParsedCertificate,
  type SignatureJob,
} from '../../src/cip22/identity/index.js';
import { CIP22_CERTS_SCRIPT, cip22Pki } from '../helpers/cip22-pki.js';
import { tempDir } from '../helpers/tmp.js';

const pki = cip22Pki();
const sm2Root = parseCertificate(pki.sm2.root.der);
const issuing = parseCertificate(pki.sm2.issuing.der);

interface Run {
  readonly result: ChainResult;
  /** The signature jobs asked for, as "cert subject ← key holder subject". */
  readonly jobs: string[];
}

function run(
  roots: readonly ParsedCertificate[],
  state: { verifiedLinks: Set<string>; cache: CertificateCache },
  issuerDer: Buffer = pki.sm2.issuing.der,
): Run {
  const jobs: string[] = [];
  const byKey = new Map(
    [...roots, issuing].map((c) => [c.publicKey65?.toString('hex'), `${c.subject} (${c.keyAlg})`]),
  );
  const result = verifyPileChainWith(
    {
      pileDer: pki.sm2.pile.der,
      issuerDer,
      roots,
      nowMs: Date.now(),
      expectedCN: pki.sm2.deviceId,
      expectedAlg: 'sm2',
      ...state,
    },
    (job: SignatureJob) => {
      jobs.push(byKey.get(job.issuer.publicKey65?.toString('hex')) ?? 'unknown key');
      return verifyCertSignature(job.cert, job.issuer, job.hot);
    },
  ) as ChainResult;
  return { result, jobs };
}

const fresh = (): { verifiedLinks: Set<string>; cache: CertificateCache } => ({
  verifiedLinks: new Set(),
  cache: new CertificateCache(),
});

test('a pinned root of the same DN that did not verify the CA is not asked again for the same bytes', () => {
  const rogue = parseCertificate(pki.cases.rogueRoot.der);
  assert.ok(rogue.subjectDer.equals(sm2Root.subjectDer), 'fixture: the rogue root has the real DN');
  const roots = [rogue, sm2Root];
  const state = fresh();
  const first = run(roots, state);
  assert.equal(first.result.ok, true);
  assert.equal(first.jobs.length, 3, `pile, rogue root, real root: ${first.jobs.join('; ')}`);
  assert.equal(state.cache.size.failures, 1);
  const again = run(roots, state);
  assert.equal(again.result.ok, true);
  assert.deepEqual(again.jobs, [], 'a reconnect asks for no signature at all');
  // The order still decides: the real root is the one returned, the rogue one stays refuted.
  assert.equal(state.verifiedLinks.size, 1);
  assert.ok([...state.verifiedLinks][0]!.endsWith(sm2Root.fingerprintSha256));
});

test('one changed byte of the CA is a miss: every check runs again, and a cached failure never passes', () => {
  const roots = [parseCertificate(pki.cases.rogueRoot.der), sm2Root];
  const state = fresh();
  assert.equal(run(roots, state).result.ok, true);
  const tampered = Buffer.from(pki.sm2.issuing.der);
  tampered[tampered.length - 10]! ^= 0x01; // inside the CA's signature: its key still signs the pile
  const forged = run(roots, state, tampered);
  assert.equal(forged.result.ok ? 'ok' : forged.result.reason, 'unknown-root');
  assert.equal(forged.jobs.length, 3, `pile link, rogue root and real root again: ${forged.jobs.join('; ')}`);
  const forgedAgain = run(roots, state, tampered);
  assert.equal(forgedAgain.result.ok ? 'ok' : forgedAgain.result.reason, 'unknown-root');
  assert.deepEqual(forgedAgain.jobs, [], 'both roots are known not to verify these exact bytes');
  assert.equal(run(roots, state).result.ok, true, 'the genuine CA is unaffected');
});

test('a pinned root whose key cannot have made the signature (P-256 root, SM2 CA) costs no job', () => {
  const tmp = tempDir('edge-agent-root-choice-');
  try {
    const dir = join(tmp.path, 'p256-root');
    const cn = sm2Root.subjectCN as string;
    execFileSync('bash', [CIP22_CERTS_SCRIPT, 'root', dir, '--alg', 'p256', '--cn', cn], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const [p256] = loadRoots([readFileSync(join(dir, 'cert.pem'))]);
    assert.ok(p256!.subjectDer.equals(sm2Root.subjectDer), 'fixture: same DN, P-256 key');
    const state = fresh();
    const first = run([p256!, sm2Root], state);
    assert.equal(first.result.ok, true);
    assert.equal(first.jobs.length, 2, `pile and the SM2 root only: ${first.jobs.join('; ')}`);
    assert.ok(!first.jobs.some((j) => j.includes('ecdsa-p256')));
    assert.equal(state.cache.size.failures, 0, 'nothing was verified, nothing remembered');
    // Alone, it is still an unknown root (not a pass).
    const alone = run([p256!], fresh());
    assert.equal(alone.result.ok ? 'ok' : alone.result.reason, 'unknown-root');
    assert.equal(alone.jobs.length, 1, 'only the pile link');
  } finally {
    tmp.remove();
  }
});
