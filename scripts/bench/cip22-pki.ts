/**
 * Bench PKI: a P-256 root, issuing CA and gateway certificate from scripts/cip22-certs.sh,
 * plus many pile certificates issued in-process (one openssl-made pile is the template:
 * same extensions and validity; serial, CN and key replaced, re-signed by the issuing CA).
 * 1,000 openssl runs would take minutes on the bench box; this takes a second or two.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AttributeTypeAndValue,
  AttributeValue,
  Certificate,
  SubjectPublicKeyInfo,
} from '@peculiar/asn1-x509';
import { certDer } from '../../src/tools/pile-sim/runner.js';

export interface BenchPile {
  readonly deviceId: string;
  readonly key: string;
  readonly certDer: Buffer;
}

export interface BenchPki {
  readonly dir: string;
  readonly rootPem: string;
  readonly serverChain: Buffer;
  readonly serverKeyPem: string;
  readonly issuingDer: Buffer;
  readonly piles: BenchPile[];
  remove(): void;
}

const CN = '2.5.4.3';

export function benchPki(count: number): BenchPki {
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
  const issuingKey = createPrivateKey(readFileSync(join(dir, 'issuing', 'key.pem')));
  const template = readFileSync(join(dir, 'template.der'));
  const piles: BenchPile[] = [];
  for (let i = 0; i < count; i++) {
    const deviceId = `bench-${String(i).padStart(5, '0')}`;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
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
    const signature = sign('sha256', Buffer.from(AsnConvert.serialize(tbs)), issuingKey);
    cert.signatureValue = new Uint8Array(signature).buffer;
    piles.push({
      deviceId,
      key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      certDer: Buffer.from(AsnConvert.serialize(cert)),
    });
  }
  return {
    dir,
    rootPem: join(dir, 'root', 'cert.pem'),
    serverChain: Buffer.concat([
      readFileSync(join(dir, 'server.pem')),
      readFileSync(join(dir, 'issuing', 'cert.pem')),
    ]),
    serverKeyPem: join(dir, 'server.key.pem'),
    issuingDer: certDer(join(dir, 'issuing', 'cert.pem')),
    piles,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
