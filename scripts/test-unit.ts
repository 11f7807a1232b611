/**
 * `npm run test:unit`: the pure tests (no peer, no child process, no socket, small fuzz
 * counts), for a quick loop while editing. `npm test` runs everything. A file is left out
 * when it, or a test module it imports (src/ is not followed: drivers import node:net
 * without a test starting anything), mentions what starts a peer;
 * test/helpers/unit-guard.ts makes a miss fail by name rather than slip through.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const PEER =
  /node:(child_process|net|tls|http|https|dgram)|startSimulatedModbusServer|startDtuSimulator|startGateway|startStatusServer|startEmbeddedBroker|startSimulator/;
const testDir = join(root, 'dist/test');

/** True when `file` or a test module it imports (transitively) matches PEER. */
function startsPeers(file: string, seen = new Set<string>()): boolean {
  if (seen.has(file)) return false;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  if (PEER.test(text)) return true;
  for (const m of text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+\.js)'/g)) {
    const spec = m[1];
    if (spec === undefined) continue;
    const target = resolve(dirname(file), spec);
    if (target.startsWith(testDir) && startsPeers(target, seen)) return true;
  }
  return false;
}

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return testFiles(path);
    return e.name.endsWith('.test.js') ? [path] : [];
  });
}

const files = testFiles(testDir)
  .filter((file) => !startsPeers(file))
  .map((file) => relative(root, file))
  .sort();

const result = spawnSync(
  process.execPath,
  [
    '--import',
    './dist/test/helpers/unit-guard.js',
    '--test',
    '--test-concurrency=2',
    '--test-timeout=60000',
    ...process.argv.slice(2),
    ...files,
  ],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, CIP22_FUZZ_ITERATIONS: process.env.CIP22_FUZZ_ITERATIONS ?? '20000' },
  },
);
process.exitCode = result.status ?? 1;
