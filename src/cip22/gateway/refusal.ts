/**
 * How a session refuses a pile: the wire reason of each certificate-chain failure, and the
 * Refusal a handshake step throws (the wire reason plus the finer name that is counted).
 */
import type { Cip22ReasonName } from '../codec/index.js';
import type { ChainFailure } from '../identity/index.js';

export const CHAIN_REASONS: Readonly<Record<ChainFailure, Cip22ReasonName>> = {
  malformed: 'bad-certificate',
  expired: 'certificate-expired',
  'not-yet-valid': 'certificate-expired',
  'wrong-issuer': 'wrong-issuer',
  'issuer-not-ca': 'wrong-issuer',
  'unknown-root': 'wrong-issuer',
  'cn-mismatch': 'cn-mismatch',
  'alg-mismatch': 'wrong-key-algorithm',
  'bad-signature': 'wrong-issuer',
  'not-end-entity': 'bad-certificate',
  usage: 'bad-certificate',
  'root-issued': 'bad-certificate',
  revoked: 'bad-certificate',
};

/** Failures counted under their own name (the wire reason is coarser). */
export const COUNTED_AS_FAILURE = new Set<ChainFailure>([
  'not-end-entity',
  'usage',
  'root-issued',
  'revoked',
]);

/** Calls `fn` with the value now, or when the Promise settles. */
export function then<T>(value: T | Promise<T>, fn: (v: T) => void, fail: (e: unknown) => void): void {
  if (value instanceof Promise) value.then(fn).catch(fail);
  else fn(value);
}

/** A refusal: wire reason plus the finer name that is counted (e.g. downgrade). */
export class Refusal extends Error {
  constructor(
    readonly reason: Cip22ReasonName,
    readonly counted: string,
    message: string,
  ) {
    super(message);
  }
}
