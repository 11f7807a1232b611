/**
 * Removes what a device never runs from the staged node_modules: tests, examples,
 * TypeScript sources and declarations (Node 20 runs none), source maps, CI files and `.bin`
 * links. Conservative on purpose: only names no package loads at run time (`doc`/`docs`
 * stay: help-me reads its doc folder).
 */
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const JUNK_DIRS = new Set([
  '.bin',
  '.github',
  'test',
  'tests',
  '__tests__',
  'example',
  'examples',
  'benchmark',
  'benchmarks',
  'coverage',
  '.nyc_output',
]);
const JUNK_FILE =
  /(\.[cm]?tsx?|\.map|\.tsbuildinfo)$|^(\.eslintrc|\.prettierrc|\.npmignore|\.travis\.yml|\.editorconfig|\.taprc|tsconfig)/;
const KEEP_DOC = /^(licen[cs]e|copying|notice)/i;

export function isJunkFile(name: string): boolean {
  if (JUNK_FILE.test(name)) return true;
  return /\.(md|markdown)$/i.test(name) && !KEEP_DOC.test(name);
}

/** Prunes `dir` recursively; returns the number of entries removed. */
export function pruneTree(dir: string): number {
  let removed = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && JUNK_DIRS.has(entry.name)) {
      rmSync(path, { recursive: true, force: true });
      removed++;
    } else if (entry.isDirectory()) {
      removed += pruneTree(path);
    } else if (isJunkFile(entry.name)) {
      rmSync(path, { force: true });
      removed++;
    }
  }
  return removed;
}

/** Fails on anything the manifest cannot describe: symlinks, sockets, devices. */
export function assertPlainTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) assertPlainTree(path);
    else if (!lstatSync(path).isFile())
      throw new Error(`${path}: not a regular file (symlinks cannot be bundled)`);
  }
}
