/**
 * The configured CRL files (cip22.crls), re-read when one changes: revoking a pile takes
 * copying the issuing CA's new CRL over the old file, no restart. A file that cannot be
 * read or parsed on a reload keeps the previous list (logged); at start it is an error.
 * The CRL parser (crl.ts: @peculiar/asn1-schema and asn1-x509, ~1.8 MB of heap that stays)
 * is imported by `open`, so a gateway without CRLs never loads it.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { EdgeError } from '../../core/errors.js';
import type { Logger } from '../../core/ports.js';
import type { RevocationList } from '../identity/crl.js';
import type { ParsedCertificate } from '../identity/index.js';

type RevocationListClass = typeof RevocationList;

export class CrlFiles {
  private list: RevocationList;
  loads = 0;
  private readonly onChange = (): void => void this.reload();

  /** Loads the CRL parser, then the files; throws (EDGE_ERR_CONFIG_READ, or the parser's error) as the constructor does. */
  static async open(paths: readonly string[], log: Logger, pollMs?: number): Promise<CrlFiles> {
    const { RevocationList: parser } = await import('../identity/crl.js');
    return new CrlFiles(parser, paths, log, pollMs);
  }

  constructor(
    private readonly parser: RevocationListClass,
    private readonly paths: readonly string[],
    private readonly log: Logger,
    pollMs = 10_000,
  ) {
    this.list = this.load();
    // persistent: false — watching never keeps the process alive.
    for (const path of paths) watchFile(path, { persistent: false, interval: pollMs }, this.onChange);
  }

  isRevoked(cert: ParsedCertificate): boolean {
    return this.list.isRevoked(cert);
  }

  get revokedCount(): number {
    return this.list.size;
  }

  /** Re-reads every file; false (old list kept) when one fails. */
  reload(): boolean {
    try {
      this.list = this.load();
      this.log.info({ files: this.paths.length, revoked: this.list.size }, 'cip22: CRLs reloaded');
      return true;
    } catch (error) {
      this.log.warn(
        { code: (error as EdgeError).code ?? 'EDGE_ERR_CONFIG_READ', err: (error as Error).message },
        'cip22: CRL reload failed; keeping the previous list',
      );
      return false;
    }
  }

  close(): void {
    for (const path of this.paths) unwatchFile(path, this.onChange);
  }

  private load(): RevocationList {
    const files = this.paths.map((path, i) => {
      try {
        return readFileSync(path);
      } catch (e) {
        throw new EdgeError(
          'EDGE_ERR_CONFIG_READ',
          `cip22.crls[${i}]: cannot read ${path}: ${(e as Error).message}`,
          {
            cause: e,
            context: { field: `cip22.crls[${i}]` },
          },
        );
      }
    });
    const list = new this.parser(
      files,
      this.paths.map((_, i) => `cip22.crls[${i}]`),
    );
    this.loads++;
    return list;
  }
}
