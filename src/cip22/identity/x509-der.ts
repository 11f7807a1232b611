/**
 * The X.509 fields the chain check reads, decoded with our strict DER reader (der.ts).
 * It replaced @peculiar/asn1-x509 on the handshake path: that generic schema parser
 * cost ~2.6 ms of event loop per first-contact certificate on the bench box, the longest
 * synchronous turn of a handshake (issue 16). Same results as the schema parser for
 * every well-formed certificate (test/cip22/identity-x509-der.test.ts compares both);
 * stricter on some malformed ones (non-DER BOOLEANs, times without seconds or 'Z').
 */
import { DerError, TAG, childrenOf, contentOf, expectTlv, type Tlv } from './der.js';

const T = {
  BOOLEAN: 0x01,
  UTF8: 0x0c,
  PRINTABLE: 0x13,
  TELETEX: 0x14,
  IA5: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL: 0x1c,
  BMP: 0x1e,
  SET: 0x31,
  VERSION: 0xa0,
  EXTENSIONS: 0xa3,
} as const;

export interface DerName {
  /** Attribute type OID and decoded value of each AttributeTypeAndValue, per RDN in DER order. */
  readonly rdns: readonly (readonly { readonly type: string; readonly value: string }[])[];
}

export interface DerExtension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Buffer;
}

export interface DerCertificate {
  readonly serial: Buffer;
  readonly innerSigOid: string;
  readonly outerSigOid: string;
  readonly issuer: DerName;
  readonly subject: DerName;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly keyAlgOid: string;
  /** Hex of the whole parameters TLV (e.g. the curve OID `0608…`), when present. */
  readonly keyParamsHex: string | undefined;
  /** subjectPublicKey bits (no unused bits allowed). */
  readonly publicKey: Buffer;
  readonly extensions: readonly DerExtension[];
}

export function oidText(buf: Buffer, tlv: Tlv): string {
  if (tlv.tag !== TAG.OID) throw new DerError(`expected OID at ${tlv.start}`);
  const bytes = contentOf(buf, tlv);
  if (bytes.length === 0 || (bytes[bytes.length - 1]! & 0x80) !== 0)
    throw new DerError(`bad OID at ${tlv.start}`);
  const arcs: number[] = [];
  let value = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (value === 0 && b === 0x80) throw new DerError(`non-minimal OID arc at ${tlv.start}`);
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError(`OID arc too large at ${tlv.start}`);
    if ((b & 0x80) === 0) {
      arcs.push(value);
      value = 0;
    }
  }
  const first = arcs[0]!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join('.');
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function ucs(bytes: Buffer, width: 2 | 4, at: number): string {
  if (bytes.length % width !== 0) throw new DerError(`string of ${bytes.length} bytes at ${at}`);
  let out = '';
  for (let i = 0; i < bytes.length; i += width) {
    const code = width === 2 ? bytes.readUInt16BE(i) : bytes.readUInt32BE(i);
    if (code > 0x10ffff) throw new DerError(`bad UniversalString character at ${at}`);
    out += String.fromCodePoint(code);
  }
  return out;
}

const HEX_VALUES = new Set([0x04, 0x12, 0x15, 0x19, 0x1a, 0x1b]);

/** An attribute value as the schema parser printed it: the string, or hex of another TLV. */
function attributeValue(buf: Buffer, tlv: Tlv): string {
  const bytes = contentOf(buf, tlv);
  switch (tlv.tag) {
    case T.UTF8:
      return utf8.decode(bytes); // fatal: invalid UTF-8 is malformed, not U+FFFD
    case T.PRINTABLE:
    case T.TELETEX:
    case T.IA5:
      return bytes.toString('latin1');
    case T.BMP:
      return ucs(bytes, 2, tlv.start);
    case T.UNIVERSAL:
      return ucs(bytes, 4, tlv.start);
    default:
      // Other string types (Numeric, Visible, Videotex, Graphic, General) and OCTET
      // STRING print as hex of the TLV, as before; anything else is no name value.
      if (!HEX_VALUES.has(tlv.tag)) throw new DerError(`attribute value of tag 0x${tlv.tag.toString(16)}`);
      return buf.subarray(tlv.start, tlv.end).toString('hex');
  }
}

function parseName(buf: Buffer, name: Tlv): DerName {
  if (name.tag !== TAG.SEQUENCE) throw new DerError(`expected Name at ${name.start}`);
  const rdns = childrenOf(buf, name).map((set) => {
    if (set.tag !== T.SET) throw new DerError(`expected RDN SET at ${set.start}`);
    const atvs = childrenOf(buf, set);
    if (atvs.length === 0) throw new DerError(`empty RDN at ${set.start}`);
    return atvs.map((atv) => {
      if (atv.tag !== TAG.SEQUENCE) throw new DerError(`expected AttributeTypeAndValue at ${atv.start}`);
      const parts = childrenOf(buf, atv);
      if (parts.length !== 2) throw new DerError(`AttributeTypeAndValue of ${parts.length} parts`);
      return { type: oidText(buf, parts[0]!), value: attributeValue(buf, parts[1]!) };
    });
  });
  return { rdns };
}

const TIME_RE = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

/** UTCTime (YYMMDDHHMMSSZ, 1950–2049) or GeneralizedTime (YYYYMMDDHHMMSSZ), as RFC 5280 §4.1.2.5 has them. */
function parseTime(buf: Buffer, tlv: Tlv): number {
  const text = contentOf(buf, tlv).toString('latin1');
  const m = TIME_RE.exec(text);
  const utc = tlv.tag === T.UTC_TIME;
  if (!m || (!utc && tlv.tag !== T.GENERALIZED_TIME) || m[1]!.length !== (utc ? 2 : 4))
    throw new DerError(`bad validity time at ${tlv.start}`);
  let year = Number(m[1]);
  if (utc) year += year < 50 ? 2000 : 1900;
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const back = new Date(ms);
  // Date.UTC rolls 31 February over into March: a time that does not exist is malformed.
  if (
    back.getUTCMonth() !== month - 1 ||
    back.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  )
    throw new DerError(`validity time out of range at ${tlv.start}`);
  return ms;
}

function algorithmOid(buf: Buffer, alg: Tlv | undefined): { oid: string; params: Tlv | undefined } {
  if (alg?.tag !== TAG.SEQUENCE) throw new DerError('expected AlgorithmIdentifier');
  const parts = childrenOf(buf, alg);
  if (parts.length < 1 || parts.length > 2) throw new DerError('AlgorithmIdentifier of bad length');
  return { oid: oidText(buf, parts[0]!), params: parts[1] };
}

function bitStringBytes(buf: Buffer, tlv: Tlv | undefined, what: string): Buffer {
  if (tlv?.tag !== TAG.BIT_STRING) throw new DerError(`expected BIT STRING (${what})`);
  const bits = contentOf(buf, tlv);
  if (bits.length < 1 || bits[0] !== 0) throw new DerError(`${what} BIT STRING has unused bits`);
  return bits.subarray(1);
}

export function derBoolean(buf: Buffer, tlv: Tlv): boolean {
  const bytes = contentOf(buf, tlv);
  if (tlv.tag !== T.BOOLEAN || bytes.length !== 1 || (bytes[0] !== 0 && bytes[0] !== 0xff))
    throw new DerError(`expected DER BOOLEAN at ${tlv.start}`);
  return bytes[0] === 0xff;
}

function parseExtensions(buf: Buffer, wrapper: Tlv | undefined): DerExtension[] {
  if (!wrapper) return [];
  const list = childrenOf(buf, wrapper);
  if (list.length !== 1 || list[0]!.tag !== TAG.SEQUENCE) throw new DerError('bad extensions wrapper');
  return childrenOf(buf, list[0]!).map((ext) => {
    if (ext.tag !== TAG.SEQUENCE) throw new DerError(`expected Extension at ${ext.start}`);
    const parts = childrenOf(buf, ext);
    const hasCritical = parts.length === 3;
    if (parts.length !== 2 && !hasCritical) throw new DerError(`Extension of ${parts.length} parts`);
    const value = parts[hasCritical ? 2 : 1]!;
    if (value.tag !== TAG.OCTET_STRING) throw new DerError(`Extension value is not an OCTET STRING`);
    return {
      oid: oidText(buf, parts[0]!),
      critical: hasCritical ? derBoolean(buf, parts[1]!) : false,
      value: contentOf(buf, value),
    };
  });
}

/** Decodes `der`, a Certificate; throws DerError on anything that is not DER X.509. */
export function decodeCertificate(der: Buffer): DerCertificate {
  const outer = expectTlv(der, 0, TAG.SEQUENCE);
  if (outer.end !== der.length) throw new DerError('trailing bytes after the certificate');
  const [tbs, outerAlg, signature, ...extra] = childrenOf(der, outer);
  if (!tbs || tbs.tag !== TAG.SEQUENCE || extra.length > 0 || !signature)
    throw new DerError('certificate is not TBS, algorithm, signature');
  bitStringBytes(der, signature, 'signature');
  const fields = childrenOf(der, tbs);
  let i = 0;
  if (fields[0]?.tag === T.VERSION) {
    const v = childrenOf(der, fields[0]);
    if (v.length !== 1 || v[0]!.tag !== TAG.INTEGER || contentOf(der, v[0]!).length !== 1)
      throw new DerError('bad certificate version');
    i = 1;
  }
  const [serial, innerAlg, issuer, validity, subject, spki, ...rest] = fields.slice(i);
  if (serial?.tag !== TAG.INTEGER || contentOf(der, serial).length === 0)
    throw new DerError('bad serial number');
  if (validity?.tag !== TAG.SEQUENCE || !issuer || !subject || spki?.tag !== TAG.SEQUENCE)
    throw new DerError('TBS without validity, names or key');
  const times = childrenOf(der, validity);
  if (times.length !== 2) throw new DerError('validity is not two times');
  const [keyAlg, keyBits, ...keyExtra] = childrenOf(der, spki);
  if (keyExtra.length > 0) throw new DerError('SubjectPublicKeyInfo of bad length');
  const key = algorithmOid(der, keyAlg);
  // [1] issuerUniqueID, [2] subjectUniqueID (implicit, primitive or constructed), then [3] extensions.
  let order = 0;
  for (const f of rest) {
    const slot = f.tag === T.EXTENSIONS ? 3 : (f.tag & 0xdf) === 0x81 ? 1 : (f.tag & 0xdf) === 0x82 ? 2 : 0;
    if (slot <= order) throw new DerError(`unexpected field 0x${f.tag.toString(16)} after the key`);
    order = slot;
  }
  const exts = rest.filter((f) => f.tag === T.EXTENSIONS);
  return {
    serial: Buffer.from(contentOf(der, serial)),
    innerSigOid: algorithmOid(der, innerAlg).oid,
    outerSigOid: algorithmOid(der, outerAlg).oid,
    issuer: parseName(der, issuer),
    subject: parseName(der, subject),
    notBefore: parseTime(der, times[0]!),
    notAfter: parseTime(der, times[1]!),
    keyAlgOid: key.oid,
    keyParamsHex: key.params && der.subarray(key.params.start, key.params.end).toString('hex'),
    publicKey: Buffer.from(bitStringBytes(der, keyBits, 'subjectPublicKey')),
    extensions: parseExtensions(der, exts[0]),
  };
}

/** BasicConstraints: cA (default false) and pathLenConstraint. */
export function basicConstraints(value: Buffer): { isCA: boolean; pathLen?: number } {
  const seq = expectTlv(value, 0, TAG.SEQUENCE);
  if (seq.end !== value.length) throw new DerError('trailing bytes after BasicConstraints');
  const parts = childrenOf(value, seq);
  let isCA = false;
  let next = 0;
  if (parts[0]?.tag === T.BOOLEAN) {
    isCA = derBoolean(value, parts[0]);
    next = 1;
  }
  const len = parts[next];
  if (parts.length > next + 1 || (len && len.tag !== TAG.INTEGER)) throw new DerError('bad BasicConstraints');
  if (!len) return { isCA };
  const bytes = contentOf(value, len);
  if (bytes.length === 0 || bytes.length > 4 || bytes[0]! & 0x80) throw new DerError('bad pathLenConstraint');
  return { isCA, pathLen: bytes.reduce((n, b) => n * 256 + b, 0) };
}

/** KeyUsage as KeyUsageFlags: bit n of the BIT STRING (n = 0 is the first byte's MSB) is 2^n. */
export function keyUsageFlags(value: Buffer): number {
  const tlv = expectTlv(value, 0, TAG.BIT_STRING);
  if (tlv.end !== value.length) throw new DerError('trailing bytes after KeyUsage');
  const bits = contentOf(value, tlv);
  const unused = bits[0];
  if (unused === undefined || unused > 7 || bits.length < 2 || bits.length > 3)
    throw new DerError('bad KeyUsage BIT STRING');
  let flags = 0;
  const count = (bits.length - 1) * 8 - unused;
  for (let n = 0; n < count; n++) if (bits[1 + (n >> 3)]! & (0x80 >> (n & 7))) flags |= 1 << n;
  return flags;
}

/** ExtendedKeyUsage purpose OIDs. */
export function extendedKeyUsage(value: Buffer): string[] {
  const seq = expectTlv(value, 0, TAG.SEQUENCE);
  if (seq.end !== value.length) throw new DerError('trailing bytes after ExtendedKeyUsage');
  return childrenOf(value, seq).map((oid) => oidText(value, oid));
}
