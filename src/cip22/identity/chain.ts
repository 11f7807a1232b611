/**
 * The two-level chain check of spec §5.4: pile certificate → issuing CA (AUTH_RESP tag
 * 0x23) → a pinned root. Pure: the time is passed in.
 */
import type { IdentityAlg } from './algorithms.js';
import type { CertificateCache } from './cache.js';
import {
  KEY_CERT_SIGN,
  parseCertificate,
  verifyCertSignature,
  type ParsedCertificate,
} from './certificate.js';

export type ChainFailure =
  | 'malformed'
  | 'expired'
  | 'not-yet-valid'
  | 'wrong-issuer'
  | 'issuer-not-ca'
  | 'unknown-root'
  | 'cn-mismatch'
  | 'alg-mismatch'
  | 'bad-signature';

export type ChainResult =
  | { readonly ok: true; readonly pile: ParsedCertificate }
  | { readonly ok: false; readonly reason: ChainFailure; readonly detail: string };

export interface PileChainInput {
  readonly pileDer: Buffer;
  readonly issuerDer: Buffer;
  readonly roots: readonly ParsedCertificate[];
  readonly nowMs: number;
  readonly expectedCN: string;
  readonly expectedAlg: IdentityAlg;
  /**
   * Optional, owned by the caller (one per gateway): "issuing CA fingerprint/root
   * fingerprint" of links already verified, so the issuing CA → root signature (the
   * same for every pile of that CA) is checked once. Only verified links are added, so
   * its size is bounded by the genuine issuing CAs under the pinned roots.
   */
  readonly verifiedLinks?: Set<string>;
  /** Optional, one per gateway: parses and verified signatures by certificate bytes (bounded). */
  readonly cache?: CertificateCache;
}

class ChainRejection extends Error {
  constructor(
    readonly reason: ChainFailure,
    readonly detail: string,
  ) {
    super(detail);
    this.name = 'ChainRejection';
  }
}

function reject(reason: ChainFailure, detail: string): never {
  throw new ChainRejection(reason, detail);
}

function parse(der: Buffer, role: string, cache: CertificateCache | undefined): ParsedCertificate {
  try {
    return cache ? cache.parse(der) : parseCertificate(der);
  } catch (error) {
    return reject('malformed', `${role} certificate: ${(error as Error).message}`);
  }
}

function checkCa(cert: ParsedCertificate, role: string): void {
  if (!cert.isCA) reject('issuer-not-ca', `${role} "${cert.subject}" has no basicConstraints CA:TRUE`);
  if (cert.keyUsage !== undefined && (cert.keyUsage & KEY_CERT_SIGN) === 0) {
    reject('issuer-not-ca', `${role} "${cert.subject}" key usage lacks keyCertSign`);
  }
}

function checkUsable(cert: ParsedCertificate, role: string): void {
  if (!cert.publicKey65) reject('malformed', `${role} certificate has no usable SM2 or P-256 public key`);
  if (cert.unknownCriticalExtensions.length > 0) {
    reject(
      'malformed',
      `${role} certificate has unknown critical extension(s) ${cert.unknownCriticalExtensions.join(', ')}`,
    );
  }
}

function checkValidity(cert: ParsedCertificate, role: string, nowMs: number): void {
  if (nowMs < cert.notBefore) {
    reject('not-yet-valid', `${role} certificate is valid from ${new Date(cert.notBefore).toISOString()}`);
  }
  if (nowMs > cert.notAfter)
    reject('expired', `${role} certificate expired ${new Date(cert.notAfter).toISOString()}`);
}

/** The pinned root that issued `issuer` (its subject matches and its signature verifies). */
function findRoot(
  issuer: ParsedCertificate,
  roots: readonly ParsedCertificate[],
  verified: Set<string> | undefined,
): ParsedCertificate {
  const named = roots.filter((root) => root.subjectDer.equals(issuer.issuerDer));
  if (named.length === 0)
    reject('unknown-root', `issuing CA's issuer "${issuer.issuer}" is not a pinned root`);
  const signedBy = (root: ParsedCertificate): boolean => {
    const link = `${issuer.fingerprintSha256}/${root.fingerprintSha256}`;
    if (verified?.has(link)) return true;
    const ok = verifyCertSignature(issuer, root);
    if (ok) verified?.add(link);
    return ok;
  };
  const root = named.find(signedBy);
  return (
    root ??
    reject(
      'unknown-root',
      `issuing CA "${issuer.subject}" is not signed by the pinned root "${issuer.issuer}"`,
    )
  );
}

function check(input: PileChainInput): ParsedCertificate {
  const { cache } = input;
  const pile = parse(input.pileDer, 'pile', cache);
  const issuer = parse(input.issuerDer, 'issuing CA', cache);
  checkUsable(pile, 'pile');
  checkUsable(issuer, 'issuing CA');
  if (pile.keyAlg !== input.expectedAlg)
    reject('alg-mismatch', `pile key is ${pile.keyAlg}, expected ${input.expectedAlg}`);
  if (!pile.issuerDer.equals(issuer.subjectDer)) {
    reject('wrong-issuer', `pile certificate is issued by "${pile.issuer}", not by "${issuer.subject}"`);
  }
  checkCa(issuer, 'issuing CA');
  const pileSigned = cache
    ? cache.signedBy(pile, issuer, () => verifyCertSignature(pile, issuer))
    : verifyCertSignature(pile, issuer);
  if (!pileSigned) {
    reject(
      'wrong-issuer',
      `pile certificate signature (${pile.sigAlg}) does not verify with the key of "${issuer.subject}"`,
    );
  }
  const root = findRoot(issuer, input.roots, input.verifiedLinks);
  checkCa(root, 'root');
  if (root.pathLen === 0 && !root.der.equals(issuer.der))
    reject('issuer-not-ca', `root "${root.subject}" has pathLen 0`);
  checkValidity(pile, 'pile', input.nowMs);
  checkValidity(issuer, 'issuing CA', input.nowMs);
  checkValidity(root, 'root', input.nowMs);
  if (pile.subjectCN !== input.expectedCN) {
    reject(
      'cn-mismatch',
      `pile certificate CN is ${JSON.stringify(pile.subjectCN ?? null)}, device_id is ${JSON.stringify(input.expectedCN)}`,
    );
  }
  return pile;
}

/**
 * Checks a pile's certificate chain. Signatures are checked before dates and CN, so a
 * forged certificate is reported as such rather than as, say, expired. 'bad-signature'
 * is not returned here: it is the reason for a failed AUTH signature (spec §5.4), kept
 * in the same union so the gateway has one list of reasons.
 */
export function verifyPileChain(input: PileChainInput): ChainResult {
  try {
    return { ok: true, pile: check(input) };
  } catch (error) {
    if (error instanceof ChainRejection) return { ok: false, reason: error.reason, detail: error.detail };
    throw error;
  }
}
