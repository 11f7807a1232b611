/**
 * Pile certificate usage (issue 12 item 5). Before: a CA:TRUE certificate, one whose key
 * usage forbids signing, and the gateway's own TLS server certificate (which logged in as
 * pile `localhost`) were all accepted as piles; a pile issued directly by the root too;
 * there was no revocation. Chain-level cases on the script's test set, then the gateway.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CIP22_REASONS } from '../../src/cip22/codec/index.js';
import { RevocationList } from '../../src/cip22/identity/crl.js';
import {
  loadRoots,
  parseCertificate,
  verifyPileChain,
  type ChainFailure,
  type IdentityAlg,
} from '../../src/cip22/identity/index.js';
import { CIP22_CERTS_SCRIPT, cip22Pki } from '../helpers/cip22-pki.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { startGateway } from './gateway-fixture.js';

const pki = cip22Pki();
const { cases } = pki;
const roots = loadRoots([readFileSync(pki.sm2.root.certPem), pki.p256.root.der]);

function chain(
  pileDer: Buffer,
  extra: {
    issuerDer?: Buffer;
    cn?: string;
    alg?: IdentityAlg;
    allowRootIssued?: boolean;
    crl?: RevocationList;
  } = {},
) {
  return verifyPileChain({
    pileDer,
    issuerDer: extra.issuerDer ?? pki.sm2.issuing.der,
    roots,
    nowMs: Date.now(),
    expectedCN: extra.cn ?? pki.sm2.deviceId,
    expectedAlg: extra.alg ?? 'sm2',
    allowRootIssued: extra.allowRootIssued,
    revoked: extra.crl ? (c) => extra.crl!.isRevoked(c) : undefined,
  });
}

function refused(result: ReturnType<typeof chain>, reason: ChainFailure, detail: RegExp): void {
  assert.equal(result.ok, false, `expected ${reason}`);
  if (!result.ok) {
    assert.equal(result.reason, reason, result.detail);
    assert.match(result.detail, detail);
  }
}

describe('pile certificate usage (chain check)', () => {
  it('the valid piles still pass', () => {
    assert.equal(chain(pki.sm2.pile.der).ok, true);
    assert.equal(
      chain(pki.p256.pile.der, { issuerDer: pki.p256.issuing.der, cn: pki.p256.deviceId, alg: 'ecdsa-p256' })
        .ok,
      true,
    );
  });

  it('a CA:TRUE certificate is not a pile', () => {
    assert.equal(parseCertificate(cases.pileIsCa.der).isCA, true);
    refused(chain(cases.pileIsCa.der), 'not-end-entity', /CA:TRUE/);
  });

  it('a key usage without digitalSignature is refused', () => {
    refused(chain(cases.pileNoSign.der), 'usage', /digitalSignature/);
  });

  it("the gateway's own TLS server certificate (serverAuth) cannot log in as pile localhost", () => {
    const server = parseCertificate(pki.p256.server.der);
    assert.deepEqual(server.extKeyUsage, ['1.3.6.1.5.5.7.3.1']);
    refused(
      chain(pki.p256.server.der, { issuerDer: pki.p256.issuing.der, cn: 'localhost', alg: 'ecdsa-p256' }),
      'usage',
      /lacks clientAuth/,
    );
  });

  it('an unknown critical extension is refused', () => {
    assert.deepEqual(parseCertificate(cases.pileCritical.der).unknownCriticalExtensions, [
      '1.3.6.1.4.1.55555.1',
    ]);
    refused(chain(cases.pileCritical.der), 'malformed', /1\.3\.6\.1\.4\.1\.55555\.1/);
  });

  it('a pile issued directly by the root is refused unless allowRootIssued', () => {
    refused(
      chain(cases.pileUnderRoot.der, { issuerDer: pki.sm2.root.der }),
      'root-issued',
      /directly by the root/,
    );
    assert.equal(
      chain(cases.pileUnderRoot.der, { issuerDer: pki.sm2.root.der, allowRootIssued: true }).ok,
      true,
    );
  });

  it('a pile listed in a CRL is refused; the others under the same CA are not', () => {
    const crl = new RevocationList([readFileSync(cases.crl)]);
    assert.equal(crl.size, 1);
    refused(chain(cases.revokedPile.der, { crl }), 'revoked', /revoked/);
    assert.equal(chain(cases.revokedPile.der).ok, true, 'without the CRL it verifies');
    assert.equal(chain(pki.sm2.pile.der, { crl }).ok, true);
  });

  it('a CRL file that is not a CRL is refused with the file named', () => {
    assert.throws(
      () =>
        new RevocationList(
          [Buffer.from('-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n')],
          ['my.crl'],
        ),
      /my\.crl: CRL cannot be parsed/,
    );
  });
});

describe('pile certificate usage (gateway)', () => {
  it("the gateway's TLS certificate presented as pile localhost gets AUTH_FAIL bad-certificate (0x0104)", async (t) => {
    const fx = await startGateway();
    t.after(() => fx.stop());
    const impostor = fx.pile('p256', {
      deviceId: 'localhost',
      key: readFileSync(pki.p256.server.keyPem, 'utf8'),
      certDer: pki.p256.server.der,
    });
    await impostor.connect().then(
      () => assert.fail('must be refused'),
      () => undefined,
    );
    const end = await impostor.ended;
    assert.equal(end.kind, 'auth-fail');
    assert.equal(end.kind === 'auth-fail' && end.reason, CIP22_REASONS['bad-certificate']);
    assert.equal(fx.gateway.counter('usage'), 1);
  });

  it('cip22.crls is re-read when the file changes: a pile connects, is revoked, is refused', async (t) => {
    const dir = tempDir('edge-cip22-crl-');
    t.after(() => dir.remove());
    const file = join(dir.path, 'issuing.crl.pem');
    // At first: the P-256 issuing CA's CRL, which lists nothing of the SM2 hierarchy.
    execFileSync('bash', [CIP22_CERTS_SCRIPT, 'crl', file, '--ca', pki.p256.issuing.dir], {
      stdio: 'ignore',
    });
    const fx = await startGateway({ crls: [file] }, { crlPollMs: 50 });
    t.after(() => fx.stop());
    const revocable = () => fx.pile('sm2', { key: cases.revokedPile.key, certDer: cases.revokedPile.der });
    const first = revocable();
    await first.connect();
    first.close();
    copyFileSync(cases.crl, file);
    const crlOf = () => fx.gateway.status().crl as { revoked: number; loads: number };
    await waitFor('CRL reloaded', () => crlOf().revoked === 1, 30_000, 50);
    const again = revocable();
    await again.connect().then(
      () => assert.fail('must be refused'),
      () => undefined,
    );
    const end = await again.ended;
    assert.equal(end.kind === 'auth-fail' && end.reason, CIP22_REASONS['bad-certificate']);
    assert.equal(fx.gateway.counter('revoked'), 1);
  });
});
