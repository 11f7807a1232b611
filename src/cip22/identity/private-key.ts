/**
 * Reads an EC private key (PEM or KeyObject) into the scalar and public point the SM2
 * code needs. Only PKCS#8 export is used: Node 20 aborts the whole process (a native
 * assertion, not an exception) when an SM2-curve KeyObject is exported as `sec1`, and
 * its JWK export does not know the SM2 curve.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { CURVES, algForCurveOid, identityError, type IdentityAlg } from './algorithms.js';
import { DerError, TAG, childrenOf, contentOf, expectTlv } from './der.js';

export interface EcPrivateKey {
  readonly alg: IdentityAlg;
  readonly keyObject: KeyObject;
  /** The private scalar, 32 bytes big-endian. */
  readonly d: Buffer;
  /** Uncompressed public point when the key file carries it (OpenSSL always writes it). */
  readonly publicKey65: Buffer | undefined;
}

const EC_PUBLIC_KEY_OID_DER = '06072a8648ce3d0201';

interface Pkcs8Ec {
  readonly curveOidDer: string | undefined;
  readonly d: Buffer;
  readonly publicKey65: Buffer | undefined;
}

function parseEcPrivateKey(der: Buffer, octets: { contentStart: number; end: number }): Pkcs8Ec {
  const seq = expectTlv(der, octets.contentStart, TAG.SEQUENCE, octets.end);
  const [version, secret, ...rest] = childrenOf(der, seq);
  if (!version || !secret || secret.tag !== TAG.OCTET_STRING)
    throw new DerError('ECPrivateKey without a key');
  let curveOidDer: string | undefined;
  let publicKey65: Buffer | undefined;
  for (const field of rest) {
    if (field.tag === 0xa0) curveOidDer = der.subarray(field.contentStart, field.end).toString('hex');
    if (field.tag === 0xa1) {
      const bits = expectTlv(der, field.contentStart, TAG.BIT_STRING, field.end);
      const content = contentOf(der, bits);
      if (content[0] === 0 && content.length === 66 && content[1] === 4)
        publicKey65 = Buffer.from(content.subarray(1));
    }
  }
  const raw = contentOf(der, secret);
  const d = Buffer.alloc(32);
  if (raw.length > 32) throw new DerError('private scalar longer than 32 bytes');
  raw.copy(d, 32 - raw.length);
  return { curveOidDer, d, publicKey65 };
}

function parsePkcs8(der: Buffer): Pkcs8Ec {
  const outer = expectTlv(der, 0, TAG.SEQUENCE);
  const [, algorithm, privateKey] = childrenOf(der, outer);
  if (!algorithm || !privateKey || privateKey.tag !== TAG.OCTET_STRING)
    throw new DerError('not a PKCS#8 key');
  const [algOid, params] = childrenOf(der, algorithm);
  if (!algOid || algOid.tag !== TAG.OID) throw new DerError('PKCS#8 algorithm without an OID');
  const algOidDer = der.subarray(algOid.start, algOid.end).toString('hex');
  if (algOidDer !== EC_PUBLIC_KEY_OID_DER && algOidDer !== CURVES.sm2.curveOidDer) {
    throw new DerError('not an EC key');
  }
  const inner = parseEcPrivateKey(der, privateKey);
  const fromParams =
    params && params.tag === TAG.OID ? der.subarray(params.start, params.end).toString('hex') : undefined;
  // The SM2 algorithm OID doubles as its curve when no parameters are given.
  const curveOidDer =
    fromParams ?? inner.curveOidDer ?? (algOidDer === CURVES.sm2.curveOidDer ? algOidDer : undefined);
  return { ...inner, curveOidDer };
}

function asKeyObject(key: KeyObject | string): KeyObject {
  try {
    const keyObject = typeof key === 'string' ? createPrivateKey(key) : key;
    if (keyObject.type !== 'private') throw new Error(`a ${keyObject.type} key was given`);
    return keyObject;
  } catch (cause) {
    throw identityError(
      'EDGE_ERR_CIP22_KEY_INVALID',
      `private key cannot be read: ${(cause as Error).message}`,
      {},
      cause,
    );
  }
}

/** Loads `key` and checks it is on the curve of `alg`. */
export function loadEcPrivateKey(alg: IdentityAlg, key: KeyObject | string): EcPrivateKey {
  const keyObject = asKeyObject(key);
  let parsed: Pkcs8Ec;
  try {
    parsed = parsePkcs8(keyObject.export({ type: 'pkcs8', format: 'der' }));
  } catch (cause) {
    const why =
      cause instanceof DerError
        ? `is not a usable EC key: ${cause.message}`
        : `cannot be exported: ${(cause as Error).message}`;
    throw identityError('EDGE_ERR_CIP22_KEY_INVALID', `private key ${why}`, { field: 'privateKey' }, cause);
  }
  const keyAlg = parsed.curveOidDer === undefined ? undefined : algForCurveOid(parsed.curveOidDer);
  if (keyAlg !== alg) {
    throw identityError(
      'EDGE_ERR_CIP22_KEY_INVALID',
      `private key is not on the ${CURVES[alg].nodeCurve} curve required by ${alg}`,
      {
        field: 'privateKey',
      },
    );
  }
  return { alg, keyObject, d: parsed.d, publicKey65: parsed.publicKey65 };
}
