import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { keyIdOf } from '../../src/ota/manifest.js';
import { loadKeyring } from '../../src/ota/verify.js';
import { tempDir } from '../helpers/tmp.js';

test('keyring: a directory pins every *.pem in it (install.sh layout), a missing directory pins nothing, a missing named file is an error', (t) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  const keysDir = join(dir.path, 'ota-keys');
  mkdirSync(keysDir);
  const ids: string[] = [];
  for (const name of ['a.pem', 'b.pem']) {
    const { publicKey } = generateKeyPairSync('ed25519');
    writeFileSync(join(keysDir, name), publicKey.export({ type: 'spki', format: 'pem' }));
    ids.push(keyIdOf(publicKey));
  }
  writeFileSync(join(keysDir, 'README'), 'not a key');
  assert.deepEqual([...loadKeyring([keysDir]).keys()].sort(), [...ids].sort());
  assert.equal(loadKeyring([join(dir.path, 'absent-dir')]).size, 0);
  assert.throws(() => loadKeyring([join(dir.path, 'absent.pem')]), /ota\.publicKeys: cannot load/);
});
