/**
 * The driver seam holds: every registered driver's codes are documented (the generated
 * block of docs/errors.md is current), every code a driver's source names is declared by
 * its definition or the core, no two areas declare one code, and link-down codes exist.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { z } from 'zod';
import { CORE_ERRORS, errorCatalogue, isLinkDownCode } from '../../src/core/errors.js';
import { driverErrorDocs, withDriverErrorDocs } from '../../src/drivers/error-docs.js';
import { DRIVERS } from '../../src/drivers/registry.js';
import type { AnyDriverDefinition } from '../../src/drivers/types.js';

const definitions = DRIVERS as readonly AnyDriverDefinition[];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'testcases' ? [] : sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** Codes named in a driver folder's sources (string literals and comments alike). */
export function codesNamedIn(dir: string): Map<string, string> {
  const named = new Map<string, string>();
  for (const file of sourceFiles(dir))
    for (const m of readFileSync(file, 'utf8').matchAll(/EDGE_ERR_[A-Z0-9]+_[A-Z0-9_]*[A-Z0-9]\b/g))
      named.set(m[0], file);
  return named;
}

/** Codes a folder names that neither its definition nor the core declares. */
export function undeclaredIn(dir: string, declared: Readonly<Record<string, unknown>>): string[] {
  return [...codesNamedIn(dir)]
    .filter(([code]) => !(code in declared) && !(code in CORE_ERRORS))
    .map(([code, file]) => `${code} (${file})`);
}

describe('driver seam', () => {
  it('documents every registered code in docs/errors.md, and only those', () => {
    const doc = readFileSync('docs/errors.md', 'utf8');
    const documented = [...doc.matchAll(/^## (EDGE_ERR_\w+)$/gm)].map((m) => m[1]);
    assert.deepEqual([...documented].sort(), [...errorCatalogue().keys()].sort());
    for (const d of definitions)
      for (const code of Object.keys(d.errors))
        assert.ok(documented.includes(code), `${d.name}: ${code} missing from docs/errors.md`);
  });

  it("keeps docs/errors.md's generated driver block current (npm run build regenerates it)", () => {
    const doc = readFileSync('docs/errors.md', 'utf8');
    assert.ok(doc.includes(driverErrorDocs()), 'docs/errors.md is stale: run npm run build');
    assert.equal(withDriverErrorDocs(doc), doc);
  });

  for (const d of definitions) {
    it(`${d.name}: every code its folder names is declared by its definition or the core`, () => {
      assert.deepEqual(undeclaredIn(join('src/drivers', d.name), d.errors), []);
    });

    it(`${d.name}: declares codes with docs, at least one link-down code, none of another area`, () => {
      const codes = Object.entries(d.errors);
      assert.ok(codes.length > 0);
      for (const [code, spec] of codes) {
        assert.match(code, /^EDGE_ERR_[A-Z0-9]+_[A-Z0-9_]+$/);
        assert.ok(spec.docs, `${code} has no docs text`);
        assert.equal(errorCatalogue().get(code)?.owner, d.name, `${code} registered by another area`);
      }
      assert.ok(
        codes.some(([code]) => isLinkDownCode(code)),
        `${d.name} flags no code linkDown: its devices would never go offline`,
      );
    });
  }

  it('the check can fail: a folder naming an undeclared code is reported', () => {
    assert.deepEqual(undeclaredIn('test/drivers/testcases/undeclared-code', {}), [
      'EDGE_ERR_FAKE_NOT_DECLARED (test/drivers/testcases/undeclared-code/driver.ts)',
    ]);
  });

  it('the driver names are unique and match their config literal', () => {
    const names = definitions.map((d) => d.name);
    assert.equal(new Set(names).size, names.length);
    for (const d of definitions) {
      const driver = (d.schema.shape as Record<string, unknown>).driver as z.ZodLiteral<string>;
      assert.deepEqual([...driver.values], [d.name]);
    }
  });
});
