/**
 * The two-level chain check of spec §5.4: pile certificate → issuing CA (AUTH_RESP tag
 * 0x23) → a pinned root. Pure: the time is passed in. The check is a generator that
 * yields each signature it needs verified, so the same code runs with signatures checked
 * inline (verifyPileChain) or off the event loop (verifyPileChainWith and a worker pool).
 */
import type { IdentityAlg } from './algorithms.js';
import type { CertificateCache } from './cache.js';
import {
  DIGITAL_SIGNATURE,
  EKU_CLIENT_AUTH,
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
  | 'bad-signature'
  | 'not-end-entity'
  | 'usage'
  | 'root-issued'
  | 'revoked';

/** One certificate signature to verify: `cert` signed by `issuer`'s key. */
export interface SignatureJob {
  readonly cert: Pick<ParsedCertificate, 'sigAlg' | 'tbs' | 'signature'>;
  readonly issuer: Pick<ParsedCertificate, 'publicKey65' | 'keyAlg'>;
  /** The issuer is an issuing CA already linked to a pinned root: its key will verify again. */
  readonly hot?: boolean;
  /** Set when `cert` is the pile's own certificate: its key, which the AUTH signature is checked with. */
  readonly pileKey65?: Buffer;
}

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
  /** Optional, one per gateway: issuing CA parses and verified signatures by certificate bytes (bounded). */
  readonly cache?: CertificateCache;
  /** Accept a pile certificate issued directly by a pinned (or any self-signed) root. Default: refused. */
  readonly allowRootIssued?: boolean;
  /** True when the certificate is listed in a configured CRL. */
  readonly revoked?: (cert: ParsedCertificate) => boolean;
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

/**
 * A pile certificate is an end entity that signs (its AUTH_RESP) and authenticates as a
 * client: CA:FALSE, digitalSignature when key usage is present, clientAuth when an
 * extended key usage is present. This refuses a CA certificate and the gateway's own
 * TLS server certificate (serverAuth) presented as a pile.
 */
function checkPileUsage(cert: ParsedCertificate): void {
  if (cert.isCA) reject('not-end-entity', `pile certificate "${cert.subject}" is a CA (CA:TRUE)`);
  if (cert.keyUsage !== undefined && (cert.keyUsage & DIGITAL_SIGNATURE) === 0)
    reject('usage', 'pile certificate key usage lacks digitalSignature');
  if (cert.extKeyUsage !== undefined && !cert.extKeyUsage.includes(EKU_CLIENT_AUTH))
    reject('usage', `pile certificate extended key usage ${cert.extKeyUsage.join(', ')} lacks clientAuth`);
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

/** The key `issuer` holds can have made `cert`'s signature at all (else it verifies false, always). */
function canSign(cert: ParsedCertificate, issuer: ParsedCertificate): boolean {
  if (cert.sigAlg === 'sm2-sm3') return issuer.keyAlg === 'sm2';
  if (cert.sigAlg === 'ecdsa-sha256' || cert.sigAlg === 'ecdsa-sha384') return issuer.keyAlg === 'ecdsa-p256';
  return false;
}

/**
 * The first pinned root, in configured order, with the CA's issuer DN whose key verifies
 * the CA. Two pinned roots may share a DN (a root rollover; P-256 and SM2 roots made with
 * the script's default names): a root that cannot or did not verify this exact CA before
 * is passed over without a signature job, which before cost a failed verification (for
 * SM2 a worker round trip) on every handshake.
 */
function* findRoot(
  issuer: ParsedCertificate,
  roots: readonly ParsedCertificate[],
  verified: Set<string> | undefined,
  cache: CertificateCache | undefined,
): Generator<SignatureJob, ParsedCertificate, boolean> {
  const named = roots.filter((root) => root.subjectDer.equals(issuer.issuerDer));
  if (named.length === 0)
    reject('unknown-root', `issuing CA's issuer "${issuer.issuer}" is not a pinned root`);
  for (const root of named) {
    const link = `${issuer.fingerprintSha256}/${root.fingerprintSha256}`;
    if (verified?.has(link)) return root;
    if (!canSign(issuer, root) || cache?.knownFailure(issuer, root)) continue;
    if (yield { cert: issuer, issuer: root }) {
      verified?.add(link);
      return root;
    }
    cache?.rememberFailure(issuer, root);
  }
  return reject(
    'unknown-root',
    `issuing CA "${issuer.subject}" is not signed by the pinned root "${issuer.issuer}"`,
  );
}

/**
 * Only a CA whose link to a pinned root verified before may earn a precomputed key table
 * (~11 ms once): a forger's throw-away CA keys must not cost more than a plain check.
 */
function linkedToRoot(issuer: ParsedCertificate, input: PileChainInput): boolean {
  const links = input.verifiedLinks;
  if (!links) return false;
  return input.roots.some((root) => links.has(`${issuer.fingerprintSha256}/${root.fingerprintSha256}`));
}

/** Cheap structural checks run before any signature, so forged junk costs no curve arithmetic. */
function* check(input: PileChainInput): Generator<SignatureJob, ParsedCertificate, boolean> {
  const { cache } = input;
  // A pile's parse is not kept (~2 KB per pile a gateway has seen, for ~50 µs per reconnect):
  // its verified link is, by fingerprint. An issuing CA's parse serves every pile of the CA.
  const pile = parse(input.pileDer, 'pile', undefined);
  const issuer = parse(input.issuerDer, 'issuing CA', cache);
  checkUsable(pile, 'pile');
  checkUsable(issuer, 'issuing CA');
  if (pile.keyAlg !== input.expectedAlg)
    reject('alg-mismatch', `pile key is ${pile.keyAlg}, expected ${input.expectedAlg}`);
  checkPileUsage(pile);
  if (!pile.issuerDer.equals(issuer.subjectDer)) {
    reject('wrong-issuer', `pile certificate is issued by "${pile.issuer}", not by "${issuer.subject}"`);
  }
  checkCa(issuer, 'issuing CA');
  const byRoot =
    issuer.subjectDer.equals(issuer.issuerDer) || input.roots.some((r) => r.der.equals(issuer.der));
  if (byRoot && input.allowRootIssued !== true)
    reject('root-issued', `pile certificate is issued directly by the root "${issuer.subject}"`);
  let pileSigned = cache?.knownLink(pile, issuer) ?? false;
  if (!pileSigned) {
    pileSigned = yield { cert: pile, issuer, hot: linkedToRoot(issuer, input), pileKey65: pile.publicKey65 };
    if (pileSigned) cache?.rememberLink(pile, issuer);
  }
  if (!pileSigned) {
    reject(
      'wrong-issuer',
      `pile certificate signature (${pile.sigAlg}) does not verify with the key of "${issuer.subject}"`,
    );
  }
  const root = yield* findRoot(issuer, input.roots, input.verifiedLinks, cache);
  checkCa(root, 'root');
  if (root.pathLen === 0 && !root.der.equals(issuer.der))
    reject('issuer-not-ca', `root "${root.subject}" has pathLen 0`);
  if (input.revoked?.(pile)) reject('revoked', `pile certificate serial ${pile.serialHex} is revoked (CRL)`);
  if (input.revoked?.(issuer))
    reject('revoked', `issuing CA "${issuer.subject}" serial ${issuer.serialHex} is revoked (CRL)`);
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

function failure(error: unknown): ChainResult {
  if (error instanceof ChainRejection) return { ok: false, reason: error.reason, detail: error.detail };
  throw error;
}

/**
 * Runs the check with `verify` answering each signature job: synchronously while it
 * answers with booleans, as a Promise from the first job it answers with a Promise.
 */
export function verifyPileChainWith(
  input: PileChainInput,
  verify: (job: SignatureJob) => boolean | Promise<boolean>,
): ChainResult | Promise<ChainResult> {
  const steps = check(input);
  const resume = (answer: boolean | undefined): ChainResult | Promise<ChainResult> => {
    for (;;) {
      let step: IteratorResult<SignatureJob, ParsedCertificate>;
      try {
        step = answer === undefined ? steps.next() : steps.next(answer);
      } catch (error) {
        return failure(error);
      }
      if (step.done === true) return { ok: true, pile: step.value };
      const verdict = verify(step.value);
      if (typeof verdict !== 'boolean') return verdict.then(resume);
      answer = verdict;
    }
  };
  return resume(undefined);
}

/**
 * Checks a pile's certificate chain. Signatures are checked before dates and CN, so a
 * forged certificate is reported as such rather than as, say, expired. 'bad-signature'
 * is not returned here: it is the reason for a failed AUTH signature (spec §5.4), kept
 * in the same union so the gateway has one list of reasons.
 */
export function verifyPileChain(input: PileChainInput): ChainResult {
  return verifyPileChainWith(input, (job) =>
    verifyCertSignature(job.cert, job.issuer, job.hot),
  ) as ChainResult;
}
