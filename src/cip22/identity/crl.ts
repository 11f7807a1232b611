/**
 * Certificate revocation lists from files (PEM or DER, several per file). A CRL names its
 * issuer and the serials it revoked; a certificate is revoked when its issuer Name (DER,
 * byte for byte) and serial are listed. The files are configuration, like the pinned
 * roots (root-owned, read by the agent), so their signatures are not checked here.
 * Pure: the caller reads the files.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList } from '@peculiar/asn1-x509';
import { identityError } from './algorithms.js';
import { serialHex, type ParsedCertificate } from './certificate.js';
import { DerError, TAG, childrenOf, expectTlv } from './der.js';

const PEM_CRL = /-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+?)-----END X509 CRL-----/g;

export class RevocationList {
  private readonly revoked = new Set<string>();

  /** `files`: the bytes of each CRL file; `names` name them in errors. Throws EDGE_ERR_CIP22_CERT_MALFORMED. */
  constructor(files: readonly Buffer[], names: readonly string[] = []) {
    files.forEach((file, i) => {
      const name = names[i] ?? `crls[${i}]`;
      try {
        for (const der of crlBlocks(file)) this.add(der);
      } catch (cause) {
        throw identityError(
          'EDGE_ERR_CIP22_CERT_MALFORMED',
          `${name}: CRL cannot be parsed: ${(cause as Error).message}`,
          { field: name },
          cause,
        );
      }
    });
  }

  get size(): number {
    return this.revoked.size;
  }

  isRevoked(cert: Pick<ParsedCertificate, 'issuerDer' | 'serialHex'>): boolean {
    return this.revoked.has(`${cert.issuerDer.toString('hex')}/${cert.serialHex}`);
  }

  private add(der: Buffer): void {
    const issuer = crlIssuerDer(der).toString('hex');
    const list = AsnConvert.parse(der, CertificateList);
    for (const entry of list.tbsCertList.revokedCertificates ?? [])
      this.revoked.add(`${issuer}/${serialHex(Buffer.from(entry.userCertificate))}`);
  }
}

function crlBlocks(file: Buffer): Buffer[] {
  const text = file.toString('latin1');
  if (!text.includes('-----BEGIN')) return [file];
  const blocks = [...text.matchAll(PEM_CRL)].map((m) =>
    Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64'),
  );
  if (blocks.length === 0) throw new DerError('no PEM X509 CRL block');
  return blocks;
}

/** The issuer Name exactly as the CRL carries it (compared with certificates' issuer DER). */
function crlIssuerDer(der: Buffer): Buffer {
  const outer = expectTlv(der, 0, TAG.SEQUENCE);
  const [tbs] = childrenOf(der, outer);
  if (tbs?.tag !== TAG.SEQUENCE) throw new DerError('CRL without TBSCertList');
  const fields = childrenOf(der, tbs);
  const first = fields[0]?.tag === TAG.INTEGER ? 1 : 0; // version is optional (v1)
  const issuer = fields[first + 1];
  if (issuer?.tag !== TAG.SEQUENCE) throw new DerError('CRL without an issuer Name');
  return Buffer.from(der.subarray(issuer.start, issuer.end));
}
