/** The bundler's pure parts: lockfile selection, ELF machine, junk names, release package.json. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { productionPackages } from '../../scripts/bundle/deps.js';
import { elfMachine, targetOfMachine } from '../../scripts/bundle/elf.js';
import { isJunkFile } from '../../scripts/bundle/prune.js';
import { assertVersion, releasePackageJson } from '../../scripts/bundle/build.js';
import { assertKnownInstallScripts } from '../../scripts/bundle/native.js';

test('production packages: every lock entry not flagged dev, optional ones included, sorted', () => {
  const lock = {
    packages: {
      '': { name: 'edge-agent' },
      'node_modules/zod': { version: '4.0.0' },
      'node_modules/typescript': { version: '5.9.3', dev: true },
      'node_modules/onoff': { version: '6.0.3', optional: true },
      'node_modules/a/node_modules/b': { version: '1.0.0', hasInstallScript: true },
    },
  };
  assert.deepEqual(productionPackages(lock), [
    { path: 'node_modules/a/node_modules/b', version: '1.0.0', hasInstallScript: true },
    { path: 'node_modules/onoff', version: '6.0.3', hasInstallScript: false },
    { path: 'node_modules/zod', version: '4.0.0', hasInstallScript: false },
  ]);
  assert.throws(() => productionPackages({ dependencies: {} }), /lockfileVersion 2 or 3/);
  assert.throws(
    () => productionPackages({ packages: { 'node_modules/x': { link: true, version: '1.0.0' } } }),
    /linked packages/,
  );
});

test('a production package with an unknown install script stops the build', () => {
  assert.doesNotThrow(() =>
    assertKnownInstallScripts([
      { path: 'node_modules/better-sqlite3', version: '12.0.0', hasInstallScript: true },
    ]),
  );
  assert.throws(
    () =>
      assertKnownInstallScripts([{ path: 'node_modules/sharp', version: '1.0.0', hasInstallScript: true }]),
    /node_modules\/sharp/,
  );
});

test('ELF e_machine: x86-64 and aarch64 headers, little and big endian; non-ELF is undefined', () => {
  const header = (machine: number, littleEndian = true): Buffer => {
    const b = Buffer.alloc(64);
    b.writeUInt32BE(0x7f454c46, 0);
    b[4] = 2;
    b[5] = littleEndian ? 1 : 2;
    if (littleEndian) b.writeUInt16LE(machine, 18);
    else b.writeUInt16BE(machine, 18);
    return b;
  };
  assert.equal(elfMachine(header(62)), 62);
  assert.equal(targetOfMachine(elfMachine(header(183))), 'linux-arm64');
  assert.equal(elfMachine(header(183, false)), 183);
  assert.equal(elfMachine(Buffer.from('#!/bin/sh\nexec node "$@"\n')), undefined);
  assert.equal(elfMachine(Buffer.alloc(4)), undefined);
});

test('junk files: TypeScript sources and declarations, maps, docs except licences, CI dotfiles', () => {
  for (const name of [
    'index.d.ts',
    'x.d.mts',
    'errors.ts',
    'view.tsx',
    'a.js.map',
    'README.md',
    'CHANGELOG.md',
    '.eslintrc.json',
    'tsconfig.json',
    '.travis.yml',
  ])
    assert.ok(isJunkFile(name), name);
  for (const name of [
    'index.js',
    'LICENSE.md',
    'licence.md',
    'NOTICE.md',
    'package.json',
    'x.node',
    'data.json',
  ])
    assert.equal(isJunkFile(name), false, name);
});

test('the release package.json keeps what the runtime reads and takes the bundle version', () => {
  const source = JSON.stringify({
    name: 'edge-agent',
    version: '0.1.0',
    type: 'module',
    scripts: { test: 'x' },
    devDependencies: { typescript: '5' },
    dependencies: { zod: '4' },
  });
  const out = JSON.parse(releasePackageJson(source, '2.0.0')) as Record<string, unknown>;
  assert.deepEqual(out, { name: 'edge-agent', version: '2.0.0', type: 'module', dependencies: { zod: '4' } });
  assert.deepEqual(Object.keys(out).slice(0, 2), ['name', 'version']);
});

test('versions: dotted numeric with an optional pre-release', () => {
  for (const v of ['1.2.3', '0.0.0-smoke', '10.20.30-rc.1'])
    assert.doesNotThrow(() => assertVersion('--version', v));
  for (const v of ['1.2', 'v1.2.3', '1.2.3 ', '1.2.3-', '../1.2.3'])
    assert.throws(() => assertVersion('--version', v), /not a version/);
});
