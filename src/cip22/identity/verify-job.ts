/**
 * The signature checks a handshake needs, as plain data: run inline or posted to a
 * worker thread (src/cip22/identity/verify-worker.ts). Pure.
 */
import type { IdentityAlg } from './algorithms.js';
import { verifyCertSignature, type CertSigAlg } from './certificate.js';
import type { SignatureJob } from './chain.js';
import { verifyAuth } from './signature.js';

export type VerifyJob =
  | {
      readonly kind: 'cert';
      readonly sigAlg: CertSigAlg;
      readonly tbs: Uint8Array;
      readonly signature: Uint8Array;
      readonly keyAlg: IdentityAlg | 'other';
      readonly publicKey65: Uint8Array | undefined;
    }
  | {
      readonly kind: 'auth';
      readonly alg: IdentityAlg;
      readonly publicKey65: Uint8Array;
      readonly data: Uint8Array;
      readonly signature: Uint8Array;
    };

/** Own copies: posting a view of a pooled Buffer would clone its whole slab. */
const own = (b: Uint8Array): Uint8Array => new Uint8Array(b);

export function certJob(job: SignatureJob): VerifyJob {
  return {
    kind: 'cert',
    sigAlg: job.cert.sigAlg,
    tbs: own(job.cert.tbs),
    signature: own(job.cert.signature),
    keyAlg: job.issuer.keyAlg,
    publicKey65: job.issuer.publicKey65 && own(job.issuer.publicKey65),
  };
}

export function authJob(alg: IdentityAlg, publicKey65: Buffer, data: Buffer, signature: Buffer): VerifyJob {
  return { kind: 'auth', alg, publicKey65: own(publicKey65), data: own(data), signature: own(signature) };
}

const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** Runs one job; false (never a throw) for anything that does not verify. */
export function runVerifyJob(job: VerifyJob): boolean {
  try {
    if (job.kind === 'auth')
      return verifyAuth(job.alg, buf(job.publicKey65), buf(job.data), buf(job.signature));
    return verifyCertSignature(
      { sigAlg: job.sigAlg, tbs: buf(job.tbs), signature: buf(job.signature) },
      { keyAlg: job.keyAlg, publicKey65: job.publicKey65 && buf(job.publicKey65) },
    );
  } catch {
    return false;
  }
}
