/**
 * Ephemeral ECDH for the session key (spec §6) and the AUTH signed input (spec §5.3).
 * Node's ECDH does the arithmetic for both curves ('SM2' and 'prime256v1' are in
 * crypto.getCurves()); both curves have cofactor 1, so a point that decodes on the
 * curve and is not infinity is safe to use.
 */
import { createECDH } from 'node:crypto';
import { CURVES, identityError, type IdentityAlg } from './algorithms.js';

export interface Ephemeral {
  /** Uncompressed `04 || x || y`, 65 bytes. */
  readonly publicKey: Buffer;
  /** The private scalar: only for computing Z off the event loop (verify-job.ts), never logged. */
  readonly privateKey: Buffer;
  /** Z = the 32-byte x coordinate of d * peer. Throws EDGE_ERR_CIP22_PEER_KEY_INVALID. */
  computeSecret(peer65: Buffer): Buffer;
}

export function createEphemeral(alg: IdentityAlg): Ephemeral {
  const ecdh = createECDH(CURVES[alg].nodeCurve);
  const publicKey = ecdh.generateKeys();
  return ephemeral(
    alg,
    publicKey,
    () => ecdh.getPrivateKey(),
    (peer) => ecdh.computeSecret(peer),
  );
}

/**
 * A key pair made elsewhere (ephemeral-stock.ts: by a worker, ahead of use). Its secret is
 * computed in the worker with the AUTH job; computeSecret here is the fallback that names
 * a bad peer key, and sets the scalar first (for SM2 one more multiplication, ~0.3 ms).
 */
export function ephemeralFromPair(alg: IdentityAlg, publicKey: Buffer, privateKey: Buffer): Ephemeral {
  return ephemeral(
    alg,
    publicKey,
    () => privateKey,
    (peer) => {
      const ecdh = createECDH(CURVES[alg].nodeCurve);
      ecdh.setPrivateKey(privateKey);
      return ecdh.computeSecret(peer);
    },
  );
}

function ephemeral(
  alg: IdentityAlg,
  publicKey: Buffer,
  privateKey: () => Buffer,
  compute: (peer65: Buffer) => Buffer,
): Ephemeral {
  return {
    publicKey,
    get privateKey(): Buffer {
      return privateKey();
    },
    computeSecret(peer65: Buffer): Buffer {
      // 65 bytes starting 04 rules out the 1-byte encoding of the point at infinity and
      // compressed points (the spec sends uncompressed keys only).
      if (!Buffer.isBuffer(peer65) || peer65.length !== 65 || peer65[0] !== 0x04) {
        throw identityError(
          'EDGE_ERR_CIP22_PEER_KEY_INVALID',
          'peer ephemeral key must be 65 bytes 04||x||y',
          {
            field: 'ephemeralPublicKey',
            length: Buffer.isBuffer(peer65) ? peer65.length : -1,
          },
        );
      }
      try {
        return compute(peer65);
      } catch (cause) {
        throw identityError(
          'EDGE_ERR_CIP22_PEER_KEY_INVALID',
          `peer ephemeral key is not a point on ${CURVES[alg].nodeCurve}`,
          {
            field: 'ephemeralPublicKey',
          },
          cause,
        );
      }
    },
  };
}

const AUTH_LABEL = Buffer.from('CIP-22 AUTH', 'ascii');

function fixed(field: string, value: Buffer, length: number): Buffer {
  if (!Buffer.isBuffer(value) || value.length !== length) {
    throw identityError('EDGE_ERR_CIP22_AUTH_INPUT', `${field} must be ${length} bytes`, {
      field,
      length: Buffer.isBuffer(value) ? value.length : -1,
    });
  }
  return value;
}

/**
 * `"CIP-22 AUTH" || nonce || len(device_id) || device_id || policy_hash || pile_eph_pub
 * || gw_eph_pub`, with every length checked (device_id 1..64 bytes, UTF-8 if a string).
 */
export function authSignedInput(
  nonce: Buffer,
  deviceId: string | Buffer,
  policyHash: Buffer,
  pileEphPub: Buffer,
  gwEphPub: Buffer,
): Buffer {
  const id = typeof deviceId === 'string' ? Buffer.from(deviceId, 'utf8') : deviceId;
  if (!Buffer.isBuffer(id) || id.length < 1 || id.length > 64) {
    throw identityError('EDGE_ERR_CIP22_AUTH_INPUT', 'device_id must be 1..64 bytes', { field: 'device_id' });
  }
  return Buffer.concat([
    AUTH_LABEL,
    fixed('nonce', nonce, 16),
    Buffer.from([id.length]),
    id,
    fixed('policy_hash', policyHash, 32),
    fixed('pile_eph_pub', pileEphPub, 65),
    fixed('gw_eph_pub', gwEphPub, 65),
  ]);
}
