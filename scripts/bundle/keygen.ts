/** Ed25519 signing keys for bundles: the private half stays with the release builder. */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyIdOf } from '../../src/ota/manifest.js';

export interface KeyPairFiles {
  readonly keyId: string;
  readonly privateFile: string;
  readonly publicFile: string;
}

/** Writes `ed25519-private.pem` (0600) and `ed25519-public.pem`; never overwrites a key. */
export function writeKeyPair(dir: string): KeyPairFiles {
  const privateFile = join(dir, 'ed25519-private.pem');
  const publicFile = join(dir, 'ed25519-public.pem');
  for (const file of [privateFile, publicFile])
    if (existsSync(file)) throw new Error(`${file} exists: refusing to overwrite a key`);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(privateFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), {
    mode: 0o600,
    flag: 'wx',
  });
  writeFileSync(publicFile, publicKey.export({ format: 'pem', type: 'spki' }), { mode: 0o644, flag: 'wx' });
  return { keyId: keyIdOf(publicKey), privateFile, publicFile };
}
