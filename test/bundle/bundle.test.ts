/**
 * The x64 bundle end to end: built by scripts/bundle.sh from the installed node_modules
 * (no npm ci, no compiler: the host's addons are reused, a few seconds), then checked
 * against its own manifest and signature, and run.
 */
import { chmodSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { extract } from 'tar';
import { keyIdOf, loadPublicKey, verifyManifestSignature, type Manifest } from '../../src/ota/manifest.js';
import { elfMachineOfFile, ELF_MACHINE } from '../../scripts/bundle/elf.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { buildBundle, keygen, sha256, SOURCE_DATE_EPOCH, tarEntries, type TarEntry } from './fixture.js';

const tmp = tempDir('edge-bundle-');
let bundle = '';
let key: Awaited<ReturnType<typeof keygen>>;
let entries: TarEntry[] = [];
let manifest: Manifest;
let manifestBytes: Buffer;
const unpacked = join(tmp.path, 'unpacked');
const release = join(unpacked, 'release');

before(async () => {
  key = await keygen(join(tmp.path, 'key'));
  // Named case (dist-mode-from-build-tree): npm marks the package's `bin` target executable
  // in some trees; the bundle must come out the same either way.
  chmodSync('dist/src/cli/main.js', 0o755);
  bundle = await buildBundle({
    target: 'linux-x64',
    version: '1.2.3-test',
    key: key.privateFile,
    out: join(tmp.path, 'out'),
    minPrevious: '1.0.0',
  });
  entries = await tarEntries(bundle);
  spawnSync('mkdir', ['-p', unpacked]);
  await extract({ file: bundle, cwd: unpacked });
  manifestBytes = readFileSync(join(unpacked, 'manifest.json'));
  manifest = JSON.parse(manifestBytes.toString()) as Manifest;
});
after(() => tmp.remove());

test('the bundle is named by version and target, and its manifest says what it is', () => {
  assert.equal(bundle, join(tmp.path, 'out', 'edge-agent-1.2.3-test-linux-x64.tar.gz'));
  assert.equal(manifest.format, 1);
  assert.equal(manifest.name, 'edge-agent');
  assert.equal(manifest.version, '1.2.3-test');
  assert.equal(manifest.target, 'linux-x64');
  assert.equal(manifest.nodeAbi, '115');
  assert.equal(manifest.minPreviousVersion, '1.0.0');
  assert.equal(manifest.createdAt, new Date(Number(SOURCE_DATE_EPOCH) * 1000).toISOString());
});

test('manifest.sig is a valid Ed25519 signature by the named key, and only over these bytes', () => {
  const publicKey = loadPublicKey(readFileSync(key.publicFile));
  const signature = readFileSync(join(unpacked, 'manifest.sig'), 'utf8');
  assert.equal(manifest.keyId, keyIdOf(publicKey));
  assert.equal(manifest.keyId, key.keyId);
  assert.ok(verifyManifestSignature(manifestBytes, signature, publicKey));
  const tampered = Buffer.from(manifestBytes.toString().replace('"1.0.0"', '"0.0.1"'));
  assert.equal(verifyManifestSignature(tampered, signature, publicKey), false);
});

test('every file in the tar is in the manifest with its hash, size and mode, and vice versa', () => {
  assert.deepEqual(
    entries.slice(0, 2).map((e) => e.path),
    ['manifest.json', 'manifest.sig'],
    'manifest first: readable before the release',
  );
  const releaseEntries = entries.slice(2);
  assert.ok(
    releaseEntries.every((e) => e.type === 'File'),
    'only regular files: no links, no devices',
  );
  assert.deepEqual(
    releaseEntries.map((e) => e.path),
    manifest.files.map((f) => `release/${f.path}`),
  );
  const byPath = new Map(releaseEntries.map((e) => [e.path.slice('release/'.length), e]));
  for (const file of manifest.files) {
    const full = join(release, file.path);
    assert.equal(sha256(full), file.sha256, file.path);
    assert.equal(readFileSync(full).length, file.size, file.path);
    assert.equal(byPath.get(file.path)?.mode, file.mode, file.path);
  }
  const paths = manifest.files.map((f) => f.path);
  assert.deepEqual(paths, [...paths].sort(), 'sorted: reproducible order');
});

test('the build is reproducible: same commit, key and SOURCE_DATE_EPOCH give the same bytes', async () => {
  assert.ok(
    entries.every((e) => e.mtime === Number(SOURCE_DATE_EPOCH) * 1000),
    'one fixed mtime',
  );
  const again = await buildBundle({
    target: 'linux-x64',
    version: '1.2.3-test',
    key: key.privateFile,
    out: join(tmp.path, 'again'),
    minPrevious: '1.0.0',
  });
  assert.equal(sha256(again), sha256(bundle));
});

test('no tests, dev dependencies, sources maps, declarations or foreign native builds', () => {
  const paths = manifest.files.map((f) => f.path);
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  const devOnly = Object.entries(lock.packages).filter(([path, entry]) => path !== '' && entry.dev === true);
  assert.ok(devOnly.length > 0);
  for (const [dev] of devOnly)
    assert.ok(!paths.some((p) => p.startsWith(`${dev}/`)), `dev-only package ${dev} bundled`);
  const junk = paths.filter(
    (p) =>
      /(^|\/)(test|tests|__tests__|\.github|\.bin)\//.test(p) ||
      /\.(d\.ts|map|ts)$/.test(p) ||
      p.startsWith('dist/test/') ||
      p.startsWith('dist/scripts/'),
  );
  assert.deepEqual(junk, []);
  assert.ok(paths.includes('dist/src/cli/main.js'));
  const natives = paths.filter((p) => p.endsWith('.node'));
  assert.deepEqual(natives, [
    'node_modules/@serialport/bindings-cpp/prebuilds/linux-x64/@serialport+bindings-cpp.glibc.node',
    'node_modules/better-sqlite3/build/Release/better_sqlite3.node',
    'node_modules/epoll/build/Release/epoll.node',
  ]);
  for (const file of natives)
    assert.equal(elfMachineOfFile(join(release, file)), ELF_MACHINE['linux-x64'], file);
  assert.equal(manifest.files.find((f) => f.path === 'bin/edge-agent')?.mode, 0o755);
  assert.deepEqual(
    manifest.files.filter((f) => f.path.startsWith('dist/') && f.mode !== 0o644).map((f) => f.path),
    [],
    'compiled JS is 0644 whatever the build tree had',
  );
});

test('the unpacked release runs: --version, check-config on a firmware config (secrets from the environment)', () => {
  const version = spawnSync(process.execPath, [join(release, 'dist/src/cli/main.js'), '--version'], {
    encoding: 'utf8',
  });
  assert.equal(version.stdout.trim(), '1.2.3-test', version.stderr);
  const check = spawnSync(
    join(release, 'bin/edge-agent'),
    ['check-config', join(release, 'firmware-config/station-tcp.yaml')],
    {
      encoding: 'utf8',
      env: { ...process.env, EDGE_AGENT_NODE: process.execPath, EDGE_MQTT_PASSWORD: 'test-secret' },
    },
  );
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /station-tcp\.yaml: ok/);
});

test('the unpacked release opens its SQLite store and stops cleanly on SIGTERM', async (t) => {
  const configFile = join(tmp.path, 'run.yaml');
  spawnSync('sh', [
    '-c',
    `printf 'store:\\n  path: %s\\nhttp:\\n  port: 0\\n' "$1" > "$2"`,
    'sh',
    join(tmp.path, 'data', 'outbox.db'),
    configFile,
  ]);
  const child = spawn(join(release, 'bin/edge-agent'), ['run', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, EDGE_AGENT_NODE: process.execPath },
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await waitFor(
    '"edge-agent running" from the bundled agent',
    () => out.includes('"msg":"edge-agent running"') || child.exitCode !== null,
    30_000,
  );
  assert.match(out, /edge-agent running/, out);
  assert.ok(readFileSync(join(tmp.path, 'data', 'outbox.db')).length > 0, 'outbox.db created');
  child.kill('SIGTERM');
  assert.equal(await exited, 0, out);
});

test('the station page ships: its modules, its error texts, uPlot (no CDN at run time)', () => {
  const paths = new Set(manifest.files.map((f) => f.path));
  for (const file of [
    'dist/src/web/client/app.js',
    'dist/src/web/client/views.js',
    'dist/src/web/errors.json',
    'node_modules/uplot/dist/uPlot.iife.min.js',
    'node_modules/uplot/dist/uPlot.min.css',
  ])
    assert.ok(paths.has(file), `${file} missing from the bundle`);
});
