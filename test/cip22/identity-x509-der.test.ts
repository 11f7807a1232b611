/**
 * The certificate fields are decoded by our DER reader (x509-der.ts) since it replaced
 * @peculiar/asn1-x509 on the handshake path (issue 16: 2.6 ms per first-contact
 * certificate on the event loop). Reference: the fields as @peculiar/asn1-x509 decoded
 * them (the former parseFields). Every certificate of the test PKI (valid chains and
 * every failure case) decodes to the same fields; of thousands of mutated certificates,
 * none that both decode has a field that differs from the reference's.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicConstraints, Certificate, ExtendedKeyUsage, KeyUsage, type Name } from '@peculiar/asn1-x509';
import { parseCertificate, type ParsedCertificate } from '../../src/cip22/identity/index.js';
import { decodeCertificate } from '../../src/cip22/identity/x509-der.js';
import { cip22Pki } from '../helpers/cip22-pki.js';

const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
};

interface Fields {
  subjectCN: string | undefined;
  subject: string;
  issuer: string;
  serialHex: string;
  notBefore: number;
  notAfter: number;
  isCA: boolean;
  pathLen: number | undefined;
  keyUsage: number | undefined;
  extKeyUsage: string[] | undefined;
  unknownCritical: string[];
  keyAlgOid: string;
  keyParamsHex: string | undefined;
  publicKeyHex: string;
  sigOids: string;
}

const KNOWN = new Set(['2.5.29.19', '2.5.29.15', '2.5.29.37', '2.5.29.14', '2.5.29.35', '2.5.29.17']);

function nameText(name: Name): string {
  return name
    .map((rdn) =>
      rdn.map((atv) => `${ATTRIBUTE_NAMES[atv.type] ?? atv.type}=${atv.value.toString()}`).join('+'),
    )
    .join(', ');
}

/** What the former @peculiar/asn1-x509 parse produced (certificate.ts before issue 16). */
function reference(der: Buffer): Fields {
  const cert = AsnConvert.parse(der, Certificate);
  const t = cert.tbsCertificate;
  const facts: Pick<Fields, 'isCA' | 'pathLen' | 'keyUsage' | 'extKeyUsage' | 'unknownCritical'> = {
    isCA: false,
    pathLen: undefined,
    keyUsage: undefined,
    extKeyUsage: undefined,
    unknownCritical: [],
  };
  const seen = new Set<string>();
  for (const ext of t.extensions ?? []) {
    if (seen.has(ext.extnID)) throw new Error('extension twice');
    seen.add(ext.extnID);
    if (ext.extnID === '2.5.29.19') {
      const bc = AsnConvert.parse(ext.extnValue.buffer, BasicConstraints);
      facts.isCA = bc.cA === true;
      facts.pathLen = bc.pathLenConstraint;
    } else if (ext.extnID === '2.5.29.15') {
      facts.keyUsage = AsnConvert.parse(ext.extnValue.buffer, KeyUsage).toNumber();
    } else if (ext.extnID === '2.5.29.37') {
      facts.extKeyUsage = [...AsnConvert.parse(ext.extnValue.buffer, ExtendedKeyUsage)].map(String);
    } else if (ext.critical && !KNOWN.has(ext.extnID)) facts.unknownCritical.push(ext.extnID);
  }
  let cn: string | undefined;
  for (const rdn of t.subject) for (const atv of rdn) if (atv.type === '2.5.4.3') cn ??= atv.value.toString();
  const serial = Buffer.from(t.serialNumber);
  const spki = t.subjectPublicKeyInfo;
  return {
    subjectCN: cn,
    subject: nameText(t.subject),
    issuer: nameText(t.issuer),
    serialHex: (serial.length > 1 && serial[0] === 0 ? serial.subarray(1) : serial).toString('hex'),
    notBefore: t.validity.notBefore.getTime().getTime(),
    notAfter: t.validity.notAfter.getTime().getTime(),
    ...facts,
    keyAlgOid: spki.algorithm.algorithm,
    keyParamsHex: referenceParamsHex(spki.algorithm.parameters),
    publicKeyHex: Buffer.from(spki.subjectPublicKey).toString('hex'),
    sigOids: `${t.signature.algorithm}/${cert.signatureAlgorithm.algorithm}`,
  };
}

/**
 * The key's AlgorithmIdentifier params as DER hex. @peculiar's ANY converter turns a NULL
 * (05 00) into `null`, which the former parseFields read as "no params" — for an SM2-OID
 * key that meant the SM2 curve by default. NULL is not absent: our reader reports '0500'
 * and the key is no EC key at all (case key-params-null below), so the reference is
 * normalised to the bytes the certificate carries.
 */
function referenceParamsHex(params: ArrayBuffer | null | undefined): string | undefined {
  if (params === null) return '0500';
  return params ? Buffer.from(params).toString('hex') : undefined;
}

function ours(der: Buffer): Fields {
  const c = decodeCertificate(der);
  const p: ParsedCertificate = parseCertificate(der);
  return {
    subjectCN: p.subjectCN,
    subject: p.subject,
    issuer: p.issuer,
    serialHex: p.serialHex,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    isCA: p.isCA,
    pathLen: p.pathLen,
    keyUsage: p.keyUsage,
    extKeyUsage: p.extKeyUsage ? [...p.extKeyUsage] : undefined,
    unknownCritical: [...p.unknownCriticalExtensions],
    keyAlgOid: c.keyAlgOid,
    keyParamsHex: c.keyParamsHex,
    publicKeyHex: c.publicKey.toString('hex'),
    sigOids: `${c.innerSigOid}/${c.outerSigOid}`,
  };
}

function derFiles(dir: string): Buffer[] {
  const out: Buffer[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...derFiles(path));
    else if (name.endsWith('.der')) out.push(readFileSync(path));
  }
  return out;
}

function attempt<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** A tiny deterministic PRNG (mulberry32): the same mutations on every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIXTURES = join(import.meta.dirname, '../../../test/cip22/fixtures');

describe('certificate fields decoded by x509-der.ts', () => {
  const pki = cip22Pki();
  const certs = derFiles(pki.dir);
  // The mutation case needs the same certificates on every run (the PKI above is made per
  // run, so its mutants were too): a copy of one run's PKI, committed.
  const fixedCerts = derFiles(join(FIXTURES, 'x509-der'));

  it('every certificate of the test PKI: the same fields as @peculiar/asn1-x509', () => {
    assert.ok(certs.length >= 20, `only ${certs.length} certificates found`);
    for (const der of certs) assert.deepEqual(ours(der), reference(der));
  });

  it('key-params-null: NULL key params are read as 05 00, never as a valid EC key', () => {
    // A mutant of a per-run PKI (an OID turned NULL in the key's AlgorithmIdentifier) once
    // made the mutation case fail: the same edit, made on fixed certificates.
    for (const name of ['p256-pile.der', 'sm2-pile.der', 'sm2-key-oid-pile.der']) {
      const der = readFileSync(join(FIXTURES, 'key-params-null', name));
      assert.equal(decodeCertificate(der).keyParamsHex, '0500', name);
      assert.deepEqual(ours(der), reference(der), name);
      const parsed = parseCertificate(der);
      assert.equal(parsed.keyAlg, 'other', `${name}: a key with NULL params is no SM2/P-256 key`);
      assert.equal(parsed.publicKey65, undefined, name);
    }
  });

  it('mutated certificates: whenever both decode, the same fields (no misread field)', (t) => {
    assert.equal(fixedCerts.length, 26);
    const random = prng(16);
    let both = 0;
    let onlyReference = 0;
    let onlyOurs = 0;
    for (let n = 0; n < 4000; n++) {
      const der: Buffer = Buffer.from(fixedCerts[n % fixedCerts.length]!);
      for (let k = 1 + Math.floor(random() * 3); k > 0; k--)
        der[Math.floor(random() * der.length)] = Math.floor(random() * 256);
      const mine = attempt(() => ours(der));
      const ref = attempt(() => reference(der));
      if (mine && ref) {
        both++;
        assert.deepEqual(mine, ref, der.toString('hex'));
      } else if (ref) onlyReference++;
      else if (mine) onlyOurs++;
    }
    // A mutant the reference refuses but we decode (it also parsed BIT STRING contents as
    // nested BER, e.g. the signature's) no longer carries its issuer's signature: the
    // chain check refuses it all the same, as wrong-issuer instead of malformed.
    t.diagnostic(`both decode ${both}, only the reference ${onlyReference}, only ours ${onlyOurs}`);
    assert.ok(both > 100, `only ${both} mutants decoded by both: the comparison says little`);
  });
});
