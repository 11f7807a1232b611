/**
 * The signature checks a handshake needs, as plain data: run inline or posted to a
 * worker thread (src/cip22/identity/verify-worker.ts). Pure.
 */
import { createECDH } from 'node:crypto';
import { CURVES, type IdentityAlg } from './algorithms.js';
import { verifyCertSignature, type CertSigAlg } from './certificate.js';
import type { SignatureJob } from './chain.js';
import { verifyAuth } from './signature.js';

export type CertJob = Extract<VerifyJob, { kind: 'cert' }>;
export type AuthJob = Extract<VerifyJob, { kind: 'auth' }>;

export type VerifyJob =
  | {
      readonly kind: 'cert';
      readonly sigAlg: CertSigAlg;
      readonly tbs: Uint8Array;
      readonly signature: Uint8Array;
      readonly keyAlg: IdentityAlg | 'other';
      readonly publicKey65: Uint8Array | undefined;
      readonly hot: boolean;
    }
  | {
      readonly kind: 'auth';
      readonly alg: IdentityAlg;
      readonly publicKey65: Uint8Array;
      readonly data: Uint8Array;
      readonly signature: Uint8Array;
      /**
       * When set and the signature verifies, the session's ECDH secret too (spec §6): on
       * the SM2 curve it is ~1.4 ms of OpenSSL's generic arithmetic, too long for the
       * event loop; in the same hop as the signature it costs no extra thread wake-up.
       */
      readonly ecdh?: { readonly privateKey: Uint8Array; readonly peer: Uint8Array };
    }
  | {
      /**
       * A pile's certificate signature, then (only when it verifies: a forged certificate
       * costs no more than before) its AUTH signature and ECDH: one worker hop instead of
       * two at an SM2 pile's first contact. `ok` is the certificate's answer.
       */
      readonly kind: 'cert+auth';
      readonly cert: CertJob;
      readonly auth: AuthJob;
    };

/**
 * Ephemeral key pairs made ahead of use (ephemeral-stock.ts) on an idle worker: SM2's
 * generateKeys is ~0.33 ms of OpenSSL's generic curve arithmetic. No input from a peer.
 */
export interface KeysJob {
  readonly kind: 'keys';
  readonly alg: IdentityAlg;
  readonly count: number;
}

/** An ephemeral key pair: `04 || x || y` and the private scalar (never logged). */
export interface KeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

/** A job's answer; `z` when an ECDH was asked for, the signature verified and the peer key is a valid point. */
export interface VerifyOutcome {
  readonly ok: boolean;
  readonly z?: Uint8Array;
  /** A 'cert+auth' job whose certificate verified: the AUTH job's answer. */
  readonly auth?: VerifyOutcome;
  /** A KeysJob's pairs. */
  readonly keys?: readonly KeyPair[];
}

/** Own copies: posting a view of a pooled Buffer would clone its whole slab. */
const own = (b: Uint8Array): Uint8Array => new Uint8Array(b);

export function certJob(job: SignatureJob): CertJob {
  return {
    kind: 'cert',
    sigAlg: job.cert.sigAlg,
    tbs: own(job.cert.tbs),
    signature: own(job.cert.signature),
    keyAlg: job.issuer.keyAlg,
    publicKey65: job.issuer.publicKey65 && own(job.issuer.publicKey65),
    hot: job.hot === true,
  };
}

export function authJob(
  alg: IdentityAlg,
  publicKey65: Buffer,
  data: Buffer,
  signature: Buffer,
  ecdh?: { readonly privateKey: Buffer; readonly peer: Buffer },
): AuthJob {
  return {
    kind: 'auth',
    alg,
    publicKey65: own(publicKey65),
    data: own(data),
    signature: own(signature),
    ...(ecdh ? { ecdh: { privateKey: own(ecdh.privateKey), peer: own(ecdh.peer) } } : {}),
  };
}

const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** Runs one job; false (never a throw) for anything that does not verify. */
export function runVerifyJob(job: VerifyJob): boolean {
  if (job.kind === 'cert+auth') return runVerifyJob(job.cert);
  try {
    if (job.kind === 'auth')
      return verifyAuth(job.alg, buf(job.publicKey65), buf(job.data), buf(job.signature));
    return verifyCertSignature(
      { sigAlg: job.sigAlg, tbs: buf(job.tbs), signature: buf(job.signature) },
      { keyAlg: job.keyAlg, publicKey65: job.publicKey65 && buf(job.publicKey65) },
      job.hot,
    );
  } catch {
    return false;
  }
}

/** Makes a KeysJob's pairs (at most 64: a job holds a worker for ~0.33 ms per SM2 pair). */
export function makeKeys(job: KeysJob): VerifyOutcome {
  const keys: KeyPair[] = [];
  for (let i = 0; i < Math.min(job.count, 64); i++) {
    const ecdh = createECDH(CURVES[job.alg].nodeCurve);
    const publicKey = new Uint8Array(ecdh.generateKeys());
    keys.push({ publicKey, privateKey: new Uint8Array(ecdh.getPrivateKey()) });
  }
  return { ok: true, keys };
}

/** What a worker runs: a check, or key pairs made ahead of use. */
export function runPoolJob(job: VerifyJob | KeysJob): VerifyOutcome {
  return job.kind === 'keys' ? makeKeys(job) : runJob(job);
}

/**
 * Runs one job with its ECDH, if any. A peer key that is not a valid point gives no `z`
 * (never a throw): the caller's own computeSecret then names the error as before.
 */
export function runJob(job: VerifyJob): VerifyOutcome {
  if (job.kind === 'cert+auth') {
    const ok = runVerifyJob(job.cert);
    return ok ? { ok, auth: runJob(job.auth) } : { ok };
  }
  const ok = runVerifyJob(job);
  if (!ok || job.kind !== 'auth' || !job.ecdh) return { ok };
  const { privateKey, peer } = job.ecdh;
  if (peer.length !== 65 || peer[0] !== 0x04) return { ok };
  try {
    const ecdh = createECDH(CURVES[job.alg].nodeCurve);
    ecdh.setPrivateKey(buf(privateKey));
    return { ok, z: new Uint8Array(ecdh.computeSecret(buf(peer))) };
  } catch {
    return { ok };
  }
}
