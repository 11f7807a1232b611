/**
 * CIP-22 test PKI made by scripts/cip22-certs.sh (openssl CLI), once per process: valid
 * SM2 and P-256 chains and one certificate per chain-failure case. The temp dir is
 * removed when the process exits; tests must not modify the files.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

export interface PileMaterial {
  /** Paths: certificate (PEM), key (PEM, PKCS#8), certificate (DER). */
  readonly certPem: string;
  readonly keyPem: string;
  readonly der: Buffer;
  readonly key: string;
}

export interface CaMaterial {
  readonly dir: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly der: Buffer;
}

export interface Cip22Pki {
  readonly dir: string;
  readonly script: string;
  readonly sm2: { root: CaMaterial; issuing: CaMaterial; pile: PileMaterial; deviceId: string };
  readonly p256: {
    root: CaMaterial;
    issuing: CaMaterial;
    pile: PileMaterial;
    deviceId: string;
    server: PileMaterial;
  };
  /** Failure cases (all SM2 unless named otherwise). */
  readonly cases: {
    readonly expiredPile: PileMaterial;
    readonly futurePile: PileMaterial;
    readonly expiredIssuing: CaMaterial;
    readonly pileUnderExpiredIssuing: PileMaterial;
    /** Issuing CA and root with the real DNs but other keys. */
    readonly rogueRoot: CaMaterial;
    readonly rogueIssuing: CaMaterial;
    readonly roguePile: PileMaterial;
    /** Issued by another issuing CA (other DN) under the real root. */
    readonly otherIssuing: CaMaterial;
    readonly otherPile: PileMaterial;
    readonly notCaIssuing: CaMaterial;
    readonly pileUnderNotCa: PileMaterial;
    /** SM2 chain signed without `-sigopt distid` (OpenSSL's own default ID). */
    readonly noIdRoot: CaMaterial;
    readonly noIdIssuing: CaMaterial;
    readonly noIdPile: PileMaterial;
    /** Certificate usage (issue 12 item 5): CA:TRUE, keyAgreement only, an unknown critical extension. */
    readonly pileIsCa: PileMaterial;
    readonly pileNoSign: PileMaterial;
    readonly pileCritical: PileMaterial;
    /** Issued directly by the SM2 root. */
    readonly pileUnderRoot: PileMaterial;
    /** Revoked in the SM2 issuing CA's CRL (`crl`, PEM). */
    readonly revokedPile: PileMaterial;
    readonly crl: string;
  };
}

export const CIP22_CERTS_SCRIPT = join(process.cwd(), 'scripts', 'cip22-certs.sh');

let cached: Cip22Pki | undefined;

function ca(dir: string): CaMaterial {
  return {
    dir,
    certPem: join(dir, 'cert.pem'),
    keyPem: join(dir, 'key.pem'),
    der: readFileSync(join(dir, 'cert.der')),
  };
}

function pile(prefix: string): PileMaterial {
  const keyPem = `${prefix}.key.pem`;
  return {
    certPem: `${prefix}.pem`,
    keyPem,
    der: readFileSync(`${prefix}.der`),
    key: readFileSync(keyPem, 'utf8'),
  };
}

/** Runs `cip22-certs.sh test-set` into a temp dir on first use; later calls reuse it. */
export function cip22Pki(): Cip22Pki {
  if (cached) return cached;
  const tmp = tempDir('edge-agent-cip22-pki-');
  process.once('exit', () => tmp.remove());
  const d = tmp.path;
  execFileSync('bash', [CIP22_CERTS_SCRIPT, 'test-set', d], { stdio: ['ignore', 'ignore', 'pipe'] });
  cached = {
    dir: d,
    script: CIP22_CERTS_SCRIPT,
    sm2: {
      root: ca(join(d, 'sm2/root')),
      issuing: ca(join(d, 'sm2/issuing')),
      pile: pile(join(d, 'sm2/pile')),
      deviceId: 'pile-sm2-0001',
    },
    p256: {
      root: ca(join(d, 'p256/root')),
      issuing: ca(join(d, 'p256/issuing')),
      pile: pile(join(d, 'p256/pile')),
      deviceId: 'pile-p256-0001',
      server: pile(join(d, 'p256/server')),
    },
    cases: {
      expiredPile: pile(join(d, 'sm2/pile-expired')),
      futurePile: pile(join(d, 'sm2/pile-future')),
      expiredIssuing: ca(join(d, 'sm2/issuing-expired')),
      pileUnderExpiredIssuing: pile(join(d, 'sm2/pile-under-expired-ca')),
      rogueRoot: ca(join(d, 'rogue/root')),
      rogueIssuing: ca(join(d, 'rogue/issuing')),
      roguePile: pile(join(d, 'rogue/pile')),
      otherIssuing: ca(join(d, 'other/issuing')),
      otherPile: pile(join(d, 'other/pile')),
      notCaIssuing: ca(join(d, 'sm2/issuing-not-ca')),
      pileUnderNotCa: pile(join(d, 'sm2/pile-under-not-ca')),
      noIdRoot: ca(join(d, 'sm2-noid/root')),
      noIdIssuing: ca(join(d, 'sm2-noid/issuing')),
      noIdPile: pile(join(d, 'sm2-noid/pile')),
      pileIsCa: pile(join(d, 'sm2/pile-is-ca')),
      pileNoSign: pile(join(d, 'sm2/pile-nosign')),
      pileCritical: pile(join(d, 'sm2/pile-critical')),
      pileUnderRoot: pile(join(d, 'sm2/pile-under-root')),
      revokedPile: pile(join(d, 'sm2/pile-revoked')),
      crl: join(d, 'sm2/issuing/crl.pem'),
    },
  };
  return cached;
}
