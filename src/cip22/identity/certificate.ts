/**
 * X.509 parsing with our strict DER reader (x509-der.ts; it replaced @peculiar/asn1-x509,
 * ~2.6 ms per certificate on the event loop), the bytes that are signed included: the
 * TBS is verified exactly as received (re-encoding it could "repair" a non-DER
 * certificate and verify bytes the issuer never signed).
 * Node's X509Certificate is not used: its verify() cannot check SM2-with-SM3.
 */
import { ECDH, createHash } from 'node:crypto';
import { CURVES, OID, SM2_SIGNER_ID, algForCurveOid, identityError, type IdentityAlg } from './algorithms.js';
import { DerError, TAG, childrenOf, contentOf, expectTlv } from './der.js';
import {
  basicConstraints,
  decodeCertificate,
  extendedKeyUsage,
  keyUsageFlags,
  type DerCertificate,
  type DerExtension,
  type DerName,
} from './x509-der.js';
import { verifyEcdsaP256, verifySm2 } from './signature.js';
import { unpooled } from '../../core/unpooled.js';

const EMPTY = Buffer.alloc(0);

export type CertSigAlg = 'sm2-sm3' | 'ecdsa-sha256' | 'ecdsa-sha384' | 'other';

export interface ParsedCertificate {
  readonly subjectCN: string | undefined;
  /** RFC 4514-like text of the subject, e.g. `O=CIP-22, CN=pile-0001` (in DER order). */
  readonly subject: string;
  readonly issuer: string;
  /** DER of the subject and issuer Names as received: compared byte for byte when linking a chain. */
  readonly subjectDer: Buffer;
  readonly issuerDer: Buffer;
  readonly serialHex: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly isCA: boolean;
  readonly pathLen?: number;
  /** KeyUsage bits (KeyUsageFlags) when the extension is present. */
  readonly keyUsage?: number;
  /** ExtendedKeyUsage purpose OIDs when the extension is present. */
  readonly extKeyUsage?: readonly string[];
  /** OIDs of critical extensions this module does not process (RFC 5280 §4.2: reject). */
  readonly unknownCriticalExtensions: readonly string[];
  readonly keyAlg: IdentityAlg | 'other';
  /** Uncompressed `04 || x || y`, validated on the curve; undefined for other keys. */
  readonly publicKey65: Buffer | undefined;
  /** 'other' also when the inner and outer signature algorithms differ. */
  readonly sigAlg: CertSigAlg;
  readonly tbs: Buffer;
  readonly signature: Buffer;
  readonly der: Buffer;
  readonly fingerprintSha256: string;
}

/** KeyUsage keyCertSign bit (KeyUsageFlags.keyCertSign). */
export const KEY_CERT_SIGN = 32;
/** KeyUsage digitalSignature bit (KeyUsageFlags.digitalSignature). */
export const DIGITAL_SIGNATURE = 1;
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const EKU = '2.5.29.37';
/**
 * Extensions that may be critical: those this module evaluates (basic constraints, key
 * usage, extended key usage) and those that constrain nothing here (key identifiers,
 * subjectAltName: the identity is the CN). A critical certificate policy, name
 * constraint, CRL distribution point or authority information access would demand
 * processing the gateway does not do, so it is refused (RFC 5280 §4.2).
 */
const KNOWN_EXTENSIONS = new Set([
  OID.basicConstraints,
  OID.keyUsage,
  EKU,
  '2.5.29.14',
  '2.5.29.35',
  '2.5.29.17',
]);
const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
};

function nameText(name: DerName): string {
  return name.rdns
    .map((rdn) => rdn.map((atv) => `${ATTRIBUTE_NAMES[atv.type] ?? atv.type}=${atv.value}`).join('+'))
    .join(', ');
}

function commonName(name: DerName): string | undefined {
  for (const rdn of name.rdns) for (const atv of rdn) if (atv.type === OID.commonName) return atv.value;
  return undefined;
}

function sigAlgOf(oid: string): CertSigAlg {
  if (oid === OID.sm2WithSm3) return 'sm2-sm3';
  if (oid === OID.ecdsaWithSha256) return 'ecdsa-sha256';
  if (oid === OID.ecdsaWithSha384) return 'ecdsa-sha384';
  return 'other';
}

function keyOf(cert: DerCertificate): { keyAlg: IdentityAlg | 'other'; publicKey65: Buffer | undefined } {
  const isEc = cert.keyAlgOid === OID.ecPublicKey || cert.keyAlgOid === OID.sm2Key;
  const curveOidDer = cert.keyParamsHex ?? (cert.keyAlgOid === OID.sm2Key ? CURVES.sm2.curveOidDer : '');
  const keyAlg = isEc ? algForCurveOid(curveOidDer) : undefined;
  if (!keyAlg) return { keyAlg: 'other', publicKey65: undefined };
  try {
    // convertKey decodes the point (compressed or not) and rejects one off the curve.
    const point = ECDH.convertKey(
      cert.publicKey,
      CURVES[keyAlg].nodeCurve,
      undefined,
      undefined,
      'uncompressed',
    );
    return { keyAlg, publicKey65: Buffer.from(point as Buffer) };
  } catch {
    return { keyAlg, publicKey65: undefined };
  }
}

interface ExtensionFacts {
  isCA: boolean;
  pathLen?: number;
  keyUsage?: number;
  extKeyUsage?: string[];
  unknownCriticalExtensions: string[];
}

const NO_EXTENSIONS = Object.freeze([]) as unknown as string[];

function extensionFacts(extensions: readonly DerExtension[]): ExtensionFacts {
  const facts: ExtensionFacts = { isCA: false, unknownCriticalExtensions: [] };
  const seen = new Set<string>();
  for (const ext of extensions) {
    if (seen.has(ext.oid)) throw new DerError(`extension ${ext.oid} appears twice`);
    seen.add(ext.oid);
    if (ext.oid === OID.basicConstraints) {
      Object.assign(facts, basicConstraints(ext.value));
    } else if (ext.oid === OID.keyUsage) {
      facts.keyUsage = keyUsageFlags(ext.value);
    } else if (ext.oid === EKU) {
      facts.extKeyUsage = extendedKeyUsage(ext.value);
    } else if (ext.critical && !KNOWN_EXTENSIONS.has(ext.oid)) {
      facts.unknownCriticalExtensions.push(ext.oid);
    }
  }
  // The usual case, none, shares one array: a gateway keeps a parse per pile it has seen.
  if (facts.unknownCriticalExtensions.length === 0) facts.unknownCriticalExtensions = NO_EXTENSIONS;
  return facts;
}

/** The three top-level parts: views into `der` (parseFields re-points them into its copy). */
interface RawParts {
  readonly tbs: Buffer;
  readonly signature: Buffer;
  readonly issuerDer: Buffer;
  readonly subjectDer: Buffer;
}

function splitCertificate(der: Buffer): RawParts {
  const outer = expectTlv(der, 0, TAG.SEQUENCE);
  if (outer.end !== der.length) throw new DerError('trailing bytes after the certificate');
  const parts = childrenOf(der, outer);
  if (parts.length !== 3) throw new DerError(`certificate has ${parts.length} parts, expected 3`);
  const [tbs, algorithm, signature] = parts;
  if (tbs!.tag !== TAG.SEQUENCE || algorithm!.tag !== TAG.SEQUENCE || signature!.tag !== TAG.BIT_STRING) {
    throw new DerError('certificate parts are not TBS, algorithm, signature');
  }
  const bits = contentOf(der, signature!);
  if (bits.length < 1 || bits[0] !== 0) throw new DerError('signature BIT STRING has unused bits');
  const fields = childrenOf(der, tbs!);
  const first = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] version is optional (v1)
  const issuer = fields[first + 2];
  const subject = fields[first + 4];
  if (issuer?.tag !== TAG.SEQUENCE || subject?.tag !== TAG.SEQUENCE)
    throw new DerError('TBS without issuer and subject Names');
  return {
    tbs: der.subarray(tbs!.start, tbs!.end),
    signature: bits.subarray(1),
    issuerDer: der.subarray(issuer.start, issuer.end),
    subjectDer: der.subarray(subject.start, subject.end),
  };
}

/** Hex of the serial without the sign byte DER adds before a high bit (as openssl prints it). */
export function serialHex(bytes: Buffer): string {
  const unsigned = bytes.length > 1 && bytes[0] === 0 ? bytes.subarray(1) : bytes;
  return unsigned.toString('hex');
}

function parseFields(der: Buffer): ParsedCertificate {
  const raw = splitCertificate(der);
  const cert = decodeCertificate(der);
  const facts = extensionFacts(cert.extensions);
  const key = keyOf(cert);
  // A parse is cached for the gateway's life: the DER and the key in one allocation of
  // their own (not slices of the shared pool, each pinning an 8 KiB slab: core/unpooled.ts),
  // and the parts as views into that DER copy.
  const [ownDer, publicKey65] = unpooled(der, key.publicKey65 ?? EMPTY) as [Buffer, Buffer];
  const view = (part: Buffer): Buffer => {
    const at = part.byteOffset - der.byteOffset;
    return ownDer.subarray(at, at + part.length);
  };
  return {
    subjectCN: commonName(cert.subject),
    subject: nameText(cert.subject),
    issuer: nameText(cert.issuer),
    subjectDer: view(raw.subjectDer),
    issuerDer: view(raw.issuerDer),
    serialHex: serialHex(cert.serial),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    ...facts,
    keyAlg: key.keyAlg,
    publicKey65: key.publicKey65 && publicKey65,
    sigAlg: cert.innerSigOid === cert.outerSigOid ? sigAlgOf(cert.outerSigOid) : 'other',
    tbs: view(raw.tbs),
    signature: view(raw.signature),
    der: ownDer,
    fingerprintSha256: createHash('sha256').update(der).digest('hex'),
  };
}

/** Parses a DER certificate; anything malformed throws EDGE_ERR_CIP22_CERT_MALFORMED. */
export function parseCertificate(der: Buffer): ParsedCertificate {
  try {
    if (!Buffer.isBuffer(der)) throw new DerError('certificate is not a Buffer');
    return parseFields(der);
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    throw identityError(
      'EDGE_ERR_CIP22_CERT_MALFORMED',
      `certificate cannot be parsed: ${message}`,
      {},
      cause,
    );
  }
}

const CERT_SIGNER_IDS = [SM2_SIGNER_ID, ''] as const;

/**
 * True when `issuer`'s key signed `cert`. SM2 certificate signatures are checked with
 * the GB/T signer ID first and then with the empty ID, which is what OpenSSL 1.1.1-3.x
 * uses when a certificate is signed without `-sigopt distid:` (see docs/cip22-pki.md);
 * both in one point multiplication. `hot`: the issuer's key will verify again (an issuing
 * CA already linked to a pinned root), worth a precomputed table.
 */
export function verifyCertSignature(
  cert: Pick<ParsedCertificate, 'sigAlg' | 'tbs' | 'signature'>,
  issuer: Pick<ParsedCertificate, 'publicKey65' | 'keyAlg'>,
  hot = false,
): boolean {
  const key = issuer.publicKey65;
  if (!key) return false;
  switch (cert.sigAlg) {
    case 'sm2-sm3':
      return issuer.keyAlg === 'sm2' && verifySm2(key, cert.tbs, cert.signature, CERT_SIGNER_IDS, hot);
    case 'ecdsa-sha256':
      return issuer.keyAlg === 'ecdsa-p256' && verifyEcdsaP256(key, cert.tbs, cert.signature, 'sha256');
    case 'ecdsa-sha384':
      return issuer.keyAlg === 'ecdsa-p256' && verifyEcdsaP256(key, cert.tbs, cert.signature, 'sha384');
    default:
      return false;
  }
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g;

/** Parses pinned roots: DER files or PEM files (bundles allowed). */
export function loadRoots(pemOrDer: Buffer[]): ParsedCertificate[] {
  const roots: ParsedCertificate[] = [];
  for (const [index, item] of pemOrDer.entries()) {
    const text = item.toString('latin1');
    if (!text.includes('-----BEGIN')) {
      roots.push(parseCertificate(item));
      continue;
    }
    const blocks = [...text.matchAll(PEM_BLOCK)];
    if (blocks.length === 0) {
      throw identityError(
        'EDGE_ERR_CIP22_CERT_MALFORMED',
        `root file #${index} has no PEM CERTIFICATE block`,
        { field: `roots[${index}]` },
      );
    }
    for (const block of blocks)
      roots.push(parseCertificate(Buffer.from(block[1]!.replace(/\s+/g, ''), 'base64')));
  }
  return roots;
}
