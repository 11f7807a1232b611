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
 * Plain Node built-ins on purpose: an installer must not run code from the bundle it has
 * not verified yet, and a fresh box has nothing but Debian's nodejs. The format is
 * src/ota/manifest.ts (the updater verifies with that code once installed).
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { chmodSync, lstatSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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

function checkManifest(dir, keySources, expect) {
  const bytes = readFileSync(join(dir, 'manifest.json'));
  const signature = Buffer.from(readFileSync(join(dir, 'manifest.sig'), 'utf8').trim(), 'base64');
  const manifest = JSON.parse(bytes.toString('utf8'));
  const key = loadKeys(keySources).get(manifest.keyId);
  if (!key) fail(`signed by key ${manifest.keyId}, which is not pinned here`);
  if (signature.length !== 64 || !verify(null, bytes, key, signature))
    fail('bad signature over manifest.json');
  if (manifest.format !== 1 || manifest.name !== 'edge-agent') fail('not an edge-agent manifest (format 1)');
  if (expect.target && manifest.target !== expect.target)
    fail(`bundle is for ${manifest.target}, this machine is ${expect.target}`);
  if (expect.abi && manifest.nodeAbi !== expect.abi)
    fail(`bundle needs Node ABI ${manifest.nodeAbi}, the installed node has ${expect.abi}`);
  if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/.test(manifest.version)) fail(`bad version "${manifest.version}"`);
  for (const file of manifest.files)
    if (!SAFE_PATH.test(file.path)) fail(`unsafe path in manifest: ${JSON.stringify(file.path)}`);
  writeFileSync(join(dir, 'files.list'), manifest.files.map((f) => `release/${f.path}\n`).join(''));
  process.stdout.write(`${manifest.version}\n`);
}

function walk(root, prefix, out) {
  for (const entry of readdirSync(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) walk(root, rel, out);
    else if (entry.isFile()) out.push(rel);
    else fail(`release/${rel}: not a regular file`);
  }
  return out;
}

function checkTree(dir) {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const release = join(dir, 'release');
  const listed = new Map(manifest.files.map((f) => [f.path, f]));
  for (const path of walk(release, '', []))
    if (!listed.has(path)) fail(`release/${path} is not in the manifest`);
  for (const file of manifest.files) {
    const full = join(release, file.path);
    let stat;
    try {
      stat = lstatSync(full);
    } catch {
      fail(`release/${file.path} is missing`);
    }
    if (!stat.isFile()) fail(`release/${file.path}: not a regular file`);
    const bytes = readFileSync(full);
    if (bytes.length !== file.size)
      fail(`release/${file.path}: ${bytes.length} bytes, manifest says ${file.size}`);
    if (createHash('sha256').update(bytes).digest('hex') !== file.sha256)
      fail(`release/${file.path}: sha256 differs from the manifest`);
    chmodSync(full, file.mode & 0o755);
  }
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
} else {
  fail('usage: verify-bundle.mjs manifest DIR KEY.pem|KEYDIR... [--target T] [--abi N] | tree DIR');
}
