#!/usr/bin/env node
/**
 * Bundle verifier for deploy/install.sh, in two steps around the extraction:
 *   verify-bundle.mjs manifest DIR KEY.pem|KEYDIR... [--target T] [--abi N]
 *       DIR holds manifest.json and manifest.sig from the bundle. Checks the Ed25519
 *       signature against the pinned key whose id the manifest names, the target and the
 *       Node ABI; writes DIR/files.list (the tar members to extract) and prints the version.
 *   verify-bundle.mjs tree DIR
 *       Checks DIR/release against the verified manifest: every file present with its size
 *       and sha256, nothing else, no symlinks; sets each file's mode from the manifest.
 *   verify-bundle.mjs installed RELEASE KEY.pem|KEYDIR...
 *       An installed release (the unit's ExecStartPre, as root): RELEASE/.edge-ota/manifest.json
 *       verifies with a pinned key, the tree matches it exactly and, as root, is root-only.
 * Plain Node built-ins on purpose: an installer must not run code from the bundle it has
 * not verified yet, and a fresh box has nothing but Debian's nodejs. The format is
 * src/ota/manifest.ts (the updater verifies with that code once installed).
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

function fail(message) {
  process.stderr.write(`verify-bundle: ${message}\n`);
  process.exit(1);
}

function keyIdOf(publicKey) {
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return createHash('sha256')
    .update(der.subarray(der.length - 32))
    .digest('hex')
    .slice(0, 16);
}

function loadKeys(sources) {
  const files = sources.flatMap((s) =>
    statSync(s).isDirectory()
      ? readdirSync(s)
          .filter((f) => f.endsWith('.pem'))
          .map((f) => join(s, f))
      : [s],
  );
  const keys = new Map();
  for (const file of files) {
    const key = createPublicKey(readFileSync(file));
    if (key.asymmetricKeyType !== 'ed25519') fail(`${file}: not an Ed25519 public key`);
    keys.set(keyIdOf(key), key);
  }
  if (keys.size === 0) fail(`no pinned public keys in ${sources.join(', ')}`);
  return keys;
}

const SAFE_PATH = /^(?!\/)(?!.*(^|\/)\.\.?(\/|$))[^\0\\]+$/;

/** The manifest at `manifestFile`, after its signature by a pinned key verified. */
function verifySigned(manifestFile, sigFile, keySources) {
  const bytes = readFileSync(manifestFile);
  const signature = Buffer.from(readFileSync(sigFile, 'utf8').trim(), 'base64');
  const manifest = JSON.parse(bytes.toString('utf8'));
  const key = loadKeys(keySources).get(manifest.keyId);
  if (!key) fail(`signed by key ${manifest.keyId}, which is not pinned here`);
  if (signature.length !== 64 || !verify(null, bytes, key, signature))
    fail('bad signature over manifest.json');
  if (manifest.format !== 1 || manifest.name !== 'edge-agent') fail('not an edge-agent manifest (format 1)');
  if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/.test(manifest.version)) fail(`bad version "${manifest.version}"`);
  for (const file of manifest.files)
    if (!SAFE_PATH.test(file.path) || file.path.split('/')[0] === META)
      fail(`unsafe path in manifest: ${JSON.stringify(file.path)}`);
  return manifest;
}

function checkManifest(dir, keySources, expect) {
  const manifest = verifySigned(join(dir, 'manifest.json'), join(dir, 'manifest.sig'), keySources);
  if (expect.target && manifest.target !== expect.target)
    fail(`bundle is for ${manifest.target}, this machine is ${expect.target}`);
  if (expect.abi && manifest.nodeAbi !== expect.abi)
    fail(`bundle needs Node ABI ${manifest.nodeAbi}, the installed node has ${expect.abi}`);
  writeFileSync(join(dir, 'files.list'), manifest.files.map((f) => `release/${f.path}\n`).join(''));
  process.stdout.write(`${manifest.version}\n`);
}

/** Where an installed release keeps its verified manifest (src/ota/verify.ts RELEASE_META_DIR). */
const META = '.edge-ota';

/**
 * Walks the tree without following anything: directories must be ones the manifest's
 * paths imply, everything else a regular file. `rootOwned`: nothing may be owned by or
 * writable for anyone but root (the agent must not be able to change a release).
 */
function walk(root, prefix, out, dirs, opts) {
  for (const name of readdirSync(join(root, prefix))) {
    const rel = prefix === '' ? name : `${prefix}/${name}`;
    if (opts.skipMeta && rel === META) continue;
    const stat = lstatSync(join(root, rel));
    if (opts.rootOwned && (stat.uid !== 0 || (stat.mode & 0o022) !== 0))
      fail(
        `release/${rel} is owned by uid ${stat.uid} with mode ${(stat.mode & 0o7777).toString(8)}, not root-only`,
      );
    if (stat.isDirectory()) {
      if (!dirs.has(rel)) fail(`release/${rel}/ is a directory the manifest does not list`);
      walk(root, rel, out, dirs, opts);
    } else if (stat.isFile()) out.push(rel);
    else fail(`release/${rel}: not a regular file`);
  }
  return out;
}

function checkFiles(release, manifest, opts) {
  const listed = new Map(manifest.files.map((f) => [f.path, f]));
  const dirs = new Set();
  for (const f of manifest.files) {
    const parts = f.path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  for (const path of walk(release, '', [], dirs, opts))
    if (!listed.has(path)) fail(`release/${path} is not in the manifest`);
  for (const file of manifest.files) {
    const full = join(release, file.path);
    let fd;
    try {
      fd = openSync(full, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      fail(`release/${file.path} is missing`);
    }
    try {
      if (!fstatSync(fd).isFile()) fail(`release/${file.path}: not a regular file`);
      const bytes = readFileSync(fd);
      if (bytes.length !== file.size)
        fail(`release/${file.path}: ${bytes.length} bytes, manifest says ${file.size}`);
      if (createHash('sha256').update(bytes).digest('hex') !== file.sha256)
        fail(`release/${file.path}: sha256 differs from the manifest`);
      if (opts.chmod) fchmodSync(fd, file.mode & 0o755);
    } finally {
      closeSync(fd);
    }
  }
}

function checkTree(dir) {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  checkFiles(join(dir, 'release'), manifest, { chmod: true });
}

/**
 * An installed release (ExecStartPre, as root, before anything of it runs): its kept
 * manifest verifies with a pinned key, every file matches, nothing else is there, and
 * all of it is root's. Prints the version.
 */
function checkInstalled(release, keySources) {
  const meta = join(release, META);
  const manifest = verifySigned(join(meta, 'manifest.json'), join(meta, 'manifest.sig'), keySources);
  const rootOwned = process.getuid?.() === 0;
  for (const path of [release, meta, join(meta, 'manifest.json'), join(meta, 'manifest.sig')]) {
    const stat = lstatSync(path);
    if (rootOwned && (stat.uid !== 0 || (stat.mode & 0o022) !== 0)) fail(`${path} is not root-only`);
  }
  checkFiles(release, manifest, { skipMeta: true, rootOwned });
  process.stdout.write(`${manifest.version}\n`);
}

const [command, dir, ...rest] = process.argv.slice(2);
if (command === 'manifest' && dir) {
  const expect = {};
  const keys = [];
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--target') expect.target = rest[++i];
    else if (rest[i] === '--abi') expect.abi = rest[++i];
    else keys.push(rest[i]);
  }
  checkManifest(dir, keys, expect);
} else if (command === 'tree' && dir) {
  checkTree(dir);
} else if (command === 'installed' && dir && rest.length > 0) {
  checkInstalled(realpathSync(dir), rest);
} else {
  fail(
    'usage: verify-bundle.mjs manifest DIR KEY.pem|KEYDIR... [--target T] [--abi N] | tree DIR | installed RELEASE KEY.pem|KEYDIR...',
  );
}
