/**
 * Remembers what a gateway already established about certificate bytes: their parse
 * (issuing CAs: chain.ts does not keep a pile's, ~2 KB each for a ~50 µs parse), and
 * which issuer's signature over them verified. Both are pure functions of the DER, so
 * a hit is as good as doing the work again (dates and CN are still checked on every
 * handshake). Bounded (LRU) so that a flood of distinct certificates cannot grow it:
 * a reconnecting pile then costs no signature check of its chain, which is most of a
 * handshake (docs/cip22.md).
 */
import { createHash } from 'node:crypto';
import { parseCertificate, type ParsedCertificate } from './certificate.js';

export class CertificateCache {
  private readonly parsed = new Map<string, ParsedCertificate>();
  private readonly links = new Map<string, true>();
  /** Signatures that did not verify: only issuing CA → pinned root pairs (a root of the same DN, another key). */
  private readonly failures = new Map<string, true>();

  constructor(private readonly maxEntries = 4096) {}

  /** parseCertificate, remembered by the DER's sha256; throws as parseCertificate does. */
  parse(der: Buffer): ParsedCertificate {
    const key = createHash('sha256').update(der).digest('base64');
    const hit = this.parsed.get(key);
    if (hit) {
      this.parsed.delete(key);
      this.parsed.set(key, hit);
      return hit;
    }
    const cert = parseCertificate(der);
    remember(this.parsed, key, cert, this.maxEntries);
    return cert;
  }

  /** Whether `subject`'s signature by `issuer` was verified before (and remembers a new success). */
  signedBy(subject: ParsedCertificate, issuer: ParsedCertificate, verify: () => boolean): boolean {
    if (this.knownLink(subject, issuer)) return true;
    const ok = verify();
    if (ok) this.rememberLink(subject, issuer);
    return ok;
  }

  /** `subject`'s signature by `issuer` verified before. */
  knownLink(subject: ParsedCertificate, issuer: ParsedCertificate): boolean {
    return this.links.has(`${subject.fingerprintSha256}/${issuer.fingerprintSha256}`);
  }

  /** Remembers a verified signature of `subject` by `issuer` (only call after it verified). */
  rememberLink(subject: ParsedCertificate, issuer: ParsedCertificate): void {
    remember(this.links, `${subject.fingerprintSha256}/${issuer.fingerprintSha256}`, true, this.maxEntries);
  }

  /** `subject`'s signature was checked with `issuer`'s key before and did not verify. */
  knownFailure(subject: ParsedCertificate, issuer: ParsedCertificate): boolean {
    return this.failures.has(`${subject.fingerprintSha256}/${issuer.fingerprintSha256}`);
  }

  /**
   * Remembers that `subject`'s signature does not verify with `issuer`'s key: as much a
   * function of the two certificates' exact bytes as a success. Bounded like the rest: a
   * flood of rogue CAs only pushes entries out, and an evicted pair is checked again.
   */
  rememberFailure(subject: ParsedCertificate, issuer: ParsedCertificate): void {
    remember(
      this.failures,
      `${subject.fingerprintSha256}/${issuer.fingerprintSha256}`,
      true,
      this.maxEntries,
    );
  }

  get size(): { parsed: number; links: number; failures: number } {
    return { parsed: this.parsed.size, links: this.links.size, failures: this.failures.size };
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as string);
}
