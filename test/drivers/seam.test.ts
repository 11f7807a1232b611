/**
 * The driver seam holds: every registered driver's codes are documented (the generated
 * block of docs/errors.md is current), every code a driver's source names is declared by
 * its definition or the core, no two areas declare one code, and link-down codes exist.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
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

/** Relative value imports of a source file (`import type` does not load a module). */
function valueImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(
    /^(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?'(\.{1,2}\/[^']+)\.js';/gm,
  )) {
    if (m[1] || !m[2]) continue;
    out.push(normalize(join(dirname(file), `${m[2]}.ts`)));
  }
  return out;
}

function reachable(file: string): Set<string> {
  const seen = new Set<string>();
  const todo = [file];
  for (let f = todo.pop(); f !== undefined; f = todo.pop()) {
    if (seen.has(f)) continue;
    seen.add(f);
    todo.push(...valueImports(f));
  }
  return seen;
}

/**
 * Files that name one of the driver's codes in a string literal but do not load the module
 * that registers it: used alone (a test, a tool), their errors would get no nature.
 */
export function unregisteredUses(dir: string, codes: readonly string[]): string[] {
  const own = new Set(codes);
  const declaring = new Map<string, string>();
  for (const file of sourceFiles(dir))
    for (const m of readFileSync(file, 'utf8').matchAll(/^ {2}(EDGE_ERR_[A-Z0-9_]+): \{/gm))
      if (m[1]) declaring.set(m[1], normalize(file));
  const problems: string[] = [];
  for (const file of sourceFiles(dir)) {
    const used = [...readFileSync(file, 'utf8').matchAll(/'(EDGE_ERR_[A-Z0-9_]+)'/g)]
      .map((m) => m[1] ?? '')
      .filter((code) => own.has(code));
    if (used.length === 0) continue;
    const loads = reachable(normalize(file));
    for (const code of new Set(used)) {
      const home = declaring.get(code);
      if (home && !loads.has(home)) problems.push(`${file} uses ${code} without loading ${home}`);
    }
  }
  return problems;
}

/** Every relative import of a module, type-only ones included (a type circle is a circle too). */
function allImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g)].map((m) =>
    normalize(join(dirname(file), `${m[1] ?? ''}.ts`)),
  );
}

/** Import cycles among the modules under `dirs` (each cycle as its files, sorted). */
export function importCycles(dirs: readonly string[]): string[][] {
  const files = new Set(dirs.flatMap((d) => sourceFiles(d).map((f) => normalize(f))));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of allImports(f)) {
      if (!files.has(g)) continue;
      if (state.get(g) === 'open') cycles.push(stack.slice(stack.indexOf(g)).sort());
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return cycles;
}

/** Where a driver folder may import from, besides itself (docs/writing-a-driver.md). */
const ALLOWED = ['src/core/', 'src/config-kit/', 'src/drivers/types.ts'];

/** Relative imports of a driver folder that leave it for anything but ALLOWED. */
export function importsOutside(dir: string): string[] {
  const own = `${normalize(dir)}/`;
  return sourceFiles(dir).flatMap((file) =>
    allImports(file)
      .filter((target) => !target.startsWith(own) && !ALLOWED.some((a) => target.startsWith(a)))
      .map((target) => `${file} imports ${target}`),
  );
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

    it(`${d.name}: every module naming one of its codes loads the module that registers it`, () => {
      assert.deepEqual(unregisteredUses(join('src/drivers', d.name), Object.keys(d.errors)), []);
    });

    it(`${d.name}: imports only its folder, src/core/, src/config-kit/ and drivers/types.ts`, () => {
      assert.deepEqual(importsOutside(join('src/drivers', d.name)), []);
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

  it('no import cycle among the drivers, the core and the config toolkit (type imports included)', () => {
    assert.deepEqual(importCycles(['src/drivers', 'src/core', 'src/config-kit']), []);
    assert.notDeepEqual(importCycles(['test/drivers/testcases/import-cycle']), [], 'the check can fail');
    assert.deepEqual(importsOutside('test/drivers/testcases/outside-import'), [
      'test/drivers/testcases/outside-import/driver.ts imports src/config/schema.ts',
    ]);
  });

  it('the check can fail: a folder naming an undeclared code is reported', () => {
    assert.deepEqual(undeclaredIn('test/drivers/testcases/undeclared-code', {}), [
      'EDGE_ERR_FAKE_NOT_DECLARED (test/drivers/testcases/undeclared-code/driver.ts)',
    ]);
  });

  it("the core catalogue holds no code of a driver's areas (EDGE_ERR_<AREA>_ prefixes the drivers use)", () => {
    const areas = new Set(
      definitions.flatMap((d) => Object.keys(d.errors).map((code) => code.split('_')[2] ?? '')),
    );
    const misplaced = Object.keys(CORE_ERRORS).filter((code) => areas.has(code.split('_')[2] ?? ''));
    assert.deepEqual(misplaced, [], 'move these into the driver folder that owns the area');
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
