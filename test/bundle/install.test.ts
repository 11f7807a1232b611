/**
 * deploy/install.sh into a temporary root (ROOT mode: no apt, users or systemctl): layout,
 * symlinks and modes; an upgrade moves `current` to `previous`; a bundle with a foreign key,
 * a bad signature, a changed or an extra file is refused before anything is switched.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { create, extract } from 'tar';
import { serializeManifest, signManifest, type Manifest } from '../../src/ota/manifest.js';
import { tempDir } from '../helpers/tmp.js';
import { buildBundle, keygen, tarEntries } from './fixture.js';

const run = promisify(execFile);
const INSTALL = join(process.cwd(), 'deploy/install.sh');
const VERIFY = join(process.cwd(), 'deploy/verify-bundle.mjs');
const tmp = tempDir('edge-install-');
const root = join(tmp.path, 'root');
let key: Awaited<ReturnType<typeof keygen>>;
let v1 = '';
let v2 = '';

before(async () => {
  key = await keygen(join(tmp.path, 'key'));
  const out = join(tmp.path, 'out');
  v1 = await buildBundle({ target: 'linux-x64', version: '1.0.0', key: key.privateFile, out });
  v2 = await buildBundle({
    target: 'linux-x64',
    version: '1.1.0',
    key: key.privateFile,
    out,
    minPrevious: '1.0.0',
  });
});
after(() => tmp.remove());

function install(bundle: string, ...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(INSTALL, [bundle, '--root', root, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

const mode = (path: string): number => lstatSync(join(root, path)).mode & 0o7777;

test('a fresh install lays out releases, current, data, config, keys, unit, watchdog drop-in and udev rules', () => {
  const r = install(v1, '--pubkey', key.publicFile, '--config', 'firmware-config/minimal.yaml');
  assert.equal(r.code, 0, r.out);
  assert.equal(readlinkSync(join(root, 'opt/edge-agent/current')), 'releases/1.0.0');
  assert.equal(existsSync(join(root, 'opt/edge-agent/previous')), false);
  assert.equal(
    readlinkSync(join(root, 'usr/local/bin/edge-agent')),
    '/opt/edge-agent/current/bin/edge-agent',
  );
  assert.equal(mode('opt/edge-agent'), 0o755);
  assert.equal(mode('opt/edge-agent/releases/1.0.0/bin/edge-agent'), 0o755);
  assert.equal(mode('opt/edge-agent/releases/1.0.0/dist/src/cli/main.js'), 0o644);
  assert.equal(mode('var/lib/edge-agent'), 0o750);
  assert.equal(mode('etc/edge-agent'), 0o750);
  assert.equal(mode('etc/edge-agent/config.yaml'), 0o640);
  assert.equal(
    readFileSync(join(root, 'etc/edge-agent/config.yaml'), 'utf8'),
    readFileSync('firmware-config/minimal.yaml', 'utf8'),
  );
  assert.equal(mode(`etc/edge-agent/ota-keys/${key.keyId}.pem`), 0o644);
  for (const [installed, source] of [
    ['etc/systemd/system/edge-agent.service', 'deploy/edge-agent.service'],
    ['etc/systemd/system/edge-agent-ota.service', 'deploy/edge-agent-ota.service'],
    ['etc/systemd/system/edge-agent-ota.path', 'deploy/edge-agent-ota.path'],
    ['etc/systemd/system/edge-agent-ota.timer', 'deploy/edge-agent-ota.timer'],
    ['usr/local/lib/edge-agent/verify-bundle.mjs', 'deploy/verify-bundle.mjs'],
    ['etc/systemd/system.conf.d/edge-agent-watchdog.conf', 'deploy/system.conf.d/edge-agent-watchdog.conf'],
    ['etc/udev/rules.d/99-edge-agent.rules', 'deploy/99-edge-agent.rules'],
  ]) {
    assert.equal(readFileSync(join(root, installed!), 'utf8'), readFileSync(source!, 'utf8'), installed);
    assert.equal(mode(installed!), 0o644, installed);
  }
  assert.deepEqual(
    readdirSync(join(root, 'opt/edge-agent')).sort(),
    ['current', 'releases'],
    'no scratch dir left',
  );
  const cli = spawnSync(join(root, 'opt/edge-agent/current/bin/edge-agent'), ['--version'], {
    encoding: 'utf8',
    env: { ...process.env, EDGE_AGENT_NODE: process.execPath },
  });
  assert.equal(cli.stdout.trim(), '1.0.0');
});

test('an upgrade keeps the old release as previous; installing it again changes nothing', () => {
  const r = install(v2);
  assert.equal(r.code, 0, r.out);
  assert.equal(readlinkSync(join(root, 'opt/edge-agent/current')), 'releases/1.1.0');
  assert.equal(readlinkSync(join(root, 'opt/edge-agent/previous')), 'releases/1.0.0');
  const again = install(v2);
  assert.equal(again.code, 0, again.out);
  // issue 12 item 1: an existing tree is never kept in place of the one just verified.
  assert.match(again.out, /releases\/1\.1\.0 replaced by the verified tree/);
  assert.equal(readlinkSync(join(root, 'opt/edge-agent/current')), 'releases/1.1.0');
  assert.equal(readlinkSync(join(root, 'opt/edge-agent/previous')), 'releases/1.0.0');
});

/** Repacks v2 after `change` edits the unpacked copy and the member list (the signature stays unless changed). */
async function doctored(name: string, change: (dir: string, files: string[]) => void): Promise<string> {
  const dir = join(tmp.path, name);
  mkdirSync(dir);
  await extract({ file: v2, cwd: dir });
  const files = (await tarEntries(v2)).map((e) => e.path);
  change(dir, files);
  const out = join(tmp.path, `${name}.tar.gz`);
  await create({ cwd: dir, file: out, gzip: true, portable: true }, files);
  return out;
}

/** Rewrites the unpacked manifest with `changes` and signs it again with `privateFile`. */
function resign(dir: string, changes: Partial<Manifest>, privateFile: string): void {
  const file = join(dir, 'manifest.json');
  const bytes = serializeManifest({ ...(JSON.parse(readFileSync(file, 'utf8')) as Manifest), ...changes });
  writeFileSync(file, bytes);
  writeFileSync(join(dir, 'manifest.sig'), signManifest(bytes, createPrivateKey(readFileSync(privateFile))));
}

function assertRefused(bundle: string, why: RegExp): void {
  const r = install(bundle);
  assert.notEqual(r.code, 0, r.out);
  assert.match(r.out, why);
  assert.equal(readlinkSync(join(root, 'opt/edge-agent/current')), 'releases/1.1.0', 'current untouched');
  assert.deepEqual(
    readdirSync(join(root, 'opt/edge-agent/releases')).sort(),
    ['1.0.0', '1.1.0'],
    'no release added',
  );
  assert.deepEqual(
    readdirSync(join(root, 'opt/edge-agent')).sort(),
    ['current', 'previous', 'releases'],
    'no scratch dir left',
  );
}

test('refused before any switch: a bundle signed by a key that is not pinned', async () => {
  const other = await keygen(join(tmp.path, 'other-key'));
  const foreign = await doctored('foreign', (dir) =>
    resign(dir, { version: '2.0.0', keyId: other.keyId }, other.privateFile),
  );
  assertRefused(foreign, new RegExp(`key ${other.keyId}, which is not pinned`));
});

test('refused before any switch: a manifest changed after signing', async () => {
  const bundle = await doctored('resigned', (dir) => {
    const file = join(dir, 'manifest.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"version": "1.1.0"', '"version": "9.9.9"'));
  });
  assertRefused(bundle, /bad signature/);
});

test('refused before any switch: a release file that differs from its manifest hash', async () => {
  const bundle = await doctored('tampered', (dir) =>
    writeFileSync(join(dir, 'release/dist/src/cli/main.js'), 'console.log("tampered");\n'),
  );
  assertRefused(bundle, /main\.js: (\d+ bytes|sha256 differs)/);
});

test('refused before any switch: a listed file missing from the tar', async () => {
  const missing = await doctored('missing', (_dir, files) =>
    files.splice(files.indexOf('release/bin/edge-agent'), 1),
  );
  assertRefused(missing, /bin\/edge-agent(: Not found in archive| is missing)/);
});

test('a tar member the signed manifest does not list is never extracted', async () => {
  // A valid, re-signed 1.2.0 with one unlisted member appended: install.sh extracts only the
  // members the manifest names, so the extra file never lands.
  const bundle = await doctored('extra', (dir, files) => {
    resign(dir, { version: '1.2.0' }, key.privateFile);
    writeFileSync(join(dir, 'release/dist/src/backdoor.js'), 'x');
    files.push('release/dist/src/backdoor.js');
  });
  const r = spawnSync(INSTALL, [bundle, '--root', join(tmp.path, 'root-extra'), '--pubkey', key.publicFile], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const release = join(tmp.path, 'root-extra/opt/edge-agent/releases/1.2.0');
  assert.ok(existsSync(join(release, 'bin/edge-agent')));
  assert.equal(existsSync(join(release, 'dist/src/backdoor.js')), false);
});

test('the verifier refuses a bundle for another target or Node ABI, and an unlisted file in the tree', async () => {
  const dir = join(tmp.path, 'verify');
  mkdirSync(dir);
  await extract({ file: v2, cwd: dir });
  const keys = join(root, 'etc/edge-agent/ota-keys');
  const target = await run(process.execPath, [
    VERIFY,
    'manifest',
    dir,
    keys,
    '--target',
    'linux-arm64',
  ]).catch((e: { stderr: string }) => e);
  assert.match(target.stderr, /bundle is for linux-x64, this machine is linux-arm64/);
  const abi = await run(process.execPath, [VERIFY, 'manifest', dir, keys, '--abi', '127']).catch(
    (e: { stderr: string }) => e,
  );
  assert.match(abi.stderr, /needs Node ABI 115, the installed node has 127/);
  const ok = await run(process.execPath, [
    VERIFY,
    'manifest',
    dir,
    keys,
    '--target',
    'linux-x64',
    '--abi',
    '115',
  ]);
  assert.equal(ok.stdout.trim(), '1.1.0');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  assert.equal(
    readFileSync(join(dir, 'files.list'), 'utf8').split('\n').filter(Boolean).length,
    manifest.files.length,
  );
  writeFileSync(join(dir, 'release/dist/src/backdoor.js'), 'x');
  const tree = await run(process.execPath, [VERIFY, 'tree', dir]).catch((e: { stderr: string }) => e);
  assert.match(tree.stderr, /release\/dist\/src\/backdoor\.js is not in the manifest/);
});

test('the unit passes systemd-analyze verify (only options newer than this systemd are unknown)', () => {
  const which = spawnSync('sh', ['-c', 'command -v systemd-analyze']);
  assert.equal(
    which.status,
    0,
    'systemd-analyze not installed: scripts/setup.sh --test installs it (apt-get install systemd)',
  );
  const units = [
    'deploy/edge-agent.service',
    'deploy/edge-agent-ota.service',
    'deploy/edge-agent-ota.path',
    'deploy/edge-agent-ota.timer',
  ];
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...units], { encoding: 'utf8' });
  const problems = (r.stdout + r.stderr)
    .split('\n')
    .filter(Boolean)
    .filter(
      (line) =>
        !/Unknown key '(RestartSteps|RestartMaxDelaySec)'/.test(line) &&
        !/Command \/opt\/edge-agent\/current\/bin\/edge-agent is not executable/.test(line),
    );
  assert.deepEqual(problems, []);
});
