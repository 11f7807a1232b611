/**
 * Bench PKI: a P-256 root, issuing CA and gateway certificate from scripts/cip22-certs.sh,
 * plus many pile certificates issued in-process (one openssl-made pile is the template:
 * same extensions and validity; serial, CN and key replaced, re-signed by the issuing CA).
 * 1,000 openssl runs would take minutes on the bench box; this takes a second or two.
 * With `sm2` > 0 it also makes an SM2 root and issuing CA (openssl) and that many SM2
 * piles under them, re-signed in-process with GB/T 32918.2 (SM3, signer ID
 * 1234567812345678, as the script signs); `pinnedPem` then holds both roots.
 */
import { execFileSync } from 'node:child_process';
import { type KeyObject, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AttributeTypeAndValue,
  AttributeValue,
  Certificate,
  SubjectPublicKeyInfo,
} from '@peculiar/asn1-x509';
import { type IdentityAlg, loadAuthKey, signAuth } from '../../src/cip22/identity/index.js';
import { certDer } from '../../src/tools/pile-sim/runner.js';

export interface BenchPile {
  readonly alg: IdentityAlg;
  readonly deviceId: string;
  readonly key: string;
  /** The same key loaded (a pile holds its key loaded; parsing it is no part of a handshake). */
  readonly keyObject: KeyObject;
  readonly certDer: Buffer;
}

export interface BenchPki {
  readonly dir: string;
  /** The station root the piles pin for TLS (P-256). */
  readonly rootPem: string;
  /** The roots the gateway pins for pile chains (the P-256 root, plus the SM2 root when made). */
  readonly pinnedPem: string;
  readonly serverChain: Buffer;
  readonly serverKeyPem: string;
  readonly issuingDer: Buffer;
  readonly piles: BenchPile[];
  /** SM2 piles (issued by `sm2IssuingDer`); empty unless asked for. */
  readonly sm2Piles: BenchPile[];
  readonly sm2IssuingDer: Buffer | undefined;
  remove(): void;
}

const CN = '2.5.4.3';

function issuePiles(
  dir: string,
  caName: string,
  alg: IdentityAlg,
  count: number,
  prefix: string,
): BenchPile[] {
  const issuingKey = readFileSync(join(dir, caName, 'key.pem'), 'utf8');
  const issuingKeyObject = createPrivateKey(issuingKey);
  const template = readFileSync(join(dir, `${prefix}template.der`));
  const piles: BenchPile[] = [];
  for (let i = 0; i < count; i++) {
    const deviceId = `bench-${prefix}${String(i).padStart(5, '0')}`;
    const { privateKey, publicKey } = generateKeyPairSync('ec', {
      namedCurve: alg === 'sm2' ? 'SM2' : 'P-256',
    });
    const cert = AsnConvert.parse(template, Certificate);
    const tbs = cert.tbsCertificate;
    tbs.serialNumber = new Uint8Array([0x01, i >> 16, (i >> 8) & 0xff, i & 0xff]).buffer;
    for (const rdn of tbs.subject) {
      for (let k = 0; k < rdn.length; k++) {
        if (rdn[k]!.type === CN)
          rdn[k] = new AttributeTypeAndValue({
            type: CN,
            value: new AttributeValue({ utf8String: deviceId }),
          });
      }
    }
    tbs.subjectPublicKeyInfo = AsnConvert.parse(
      publicKey.export({ type: 'spki', format: 'der' }),
      SubjectPublicKeyInfo,
    );
    const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
    const signature =
      alg === 'sm2' ? signAuth('sm2', issuingKey, tbsDer) : sign('sha256', tbsDer, issuingKeyObject);
    cert.signatureValue = new Uint8Array(signature).buffer;
    // A pile holds its key loaded: reading the scalar is no part of a handshake.
    loadAuthKey(alg, privateKey);
    piles.push({
      alg,
      deviceId,
      key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      keyObject: privateKey,
      certDer: Buffer.from(AsnConvert.serialize(cert)),
    });
  }
  return piles;
}

export function benchPki(count: number, sm2Count = 0): BenchPki {
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-bench-cip22-'));
  const sh = (...args: string[]): void =>
    void execFileSync('bash', [join(process.cwd(), 'scripts', 'cip22-certs.sh'), ...args], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  sh('root', join(dir, 'root'), '--alg', 'p256');
  sh('issuing', join(dir, 'issuing'), '--root', join(dir, 'root'), '--alg', 'p256');
  sh(
    'server',
    join(dir, 'server'),
    '--ca',
    join(dir, 'issuing'),
    '--cn',
    'localhost',
    '--san',
    'DNS:localhost,IP:127.0.0.1',
  );
  sh('pile', join(dir, 'template'), '--ca', join(dir, 'issuing'), '--id', 'bench-template');
  const piles = issuePiles(dir, 'issuing', 'ecdsa-p256', count, '');
  let sm2Piles: BenchPile[] = [];
  let pinnedPem = join(dir, 'root', 'cert.pem');
  if (sm2Count > 0) {
    sh('root', join(dir, 'sm2root'), '--alg', 'sm2');
    sh('issuing', join(dir, 'sm2issuing'), '--root', join(dir, 'sm2root'), '--alg', 'sm2');
    sh('pile', join(dir, 'sm2-template'), '--ca', join(dir, 'sm2issuing'), '--id', 'bench-template');
    sm2Piles = issuePiles(dir, 'sm2issuing', 'sm2', sm2Count, 'sm2-');
    pinnedPem = join(dir, 'pinned.pem');
    writeFileSync(
      pinnedPem,
      Buffer.concat([
        readFileSync(join(dir, 'root', 'cert.pem')),
        readFileSync(join(dir, 'sm2root', 'cert.pem')),
      ]),
    );
  }
  return {
    dir,
    rootPem: join(dir, 'root', 'cert.pem'),
    pinnedPem,
    serverChain: Buffer.concat([
      readFileSync(join(dir, 'server.pem')),
      readFileSync(join(dir, 'issuing', 'cert.pem')),
    ]),
    serverKeyPem: join(dir, 'server.key.pem'),
    issuingDer: certDer(join(dir, 'issuing', 'cert.pem')),
    piles,
    sm2Piles,
    sm2IssuingDer: sm2Count > 0 ? certDer(join(dir, 'sm2issuing', 'cert.pem')) : undefined,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
