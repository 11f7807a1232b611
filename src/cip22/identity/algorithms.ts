import { EdgeError, type EdgeErrorCode, type ErrorContext } from '../../core/errors.js';

/** Pile identity algorithm (HELLO tag 0x05: 1 = SM2, 2 = ECDSA P-256). */
export type IdentityAlg = 'sm2' | 'ecdsa-p256';

export interface CurveInfo {
  /** Name for crypto.createECDH / ECDH.convertKey. */
  readonly nodeCurve: string;
  /** DER of the namedCurve OID as it appears in SubjectPublicKeyInfo / PKCS#8. */
  readonly curveOidDer: string;
  readonly order: bigint;
}

export const CURVES: Readonly<Record<IdentityAlg, CurveInfo>> = {
  sm2: {
    nodeCurve: 'SM2',
    curveOidDer: '06082a811ccf5501822d', // 1.2.156.10197.1.301
    order: 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n,
  },
  'ecdsa-p256': {
    nodeCurve: 'prime256v1',
    curveOidDer: '06082a8648ce3d030107', // 1.2.840.10045.3.1.7
    order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  },
};

/** GB/T 32918.2 default signer ID, used by CIP-22 for every SM2 signature. */
export const SM2_SIGNER_ID = '1234567812345678';

export const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  sm2Key: '1.2.156.10197.1.301',
  sm2WithSm3: '1.2.156.10197.1.501',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
} as const;

export function algForCurveOid(curveOidDer: string): IdentityAlg | undefined {
  if (curveOidDer === CURVES.sm2.curveOidDer) return 'sm2';
  if (curveOidDer === CURVES['ecdsa-p256'].curveOidDer) return 'ecdsa-p256';
  return undefined;
}

export function identityError(
  code: EdgeErrorCode,
  message: string,
  context: ErrorContext = {},
  cause?: unknown,
): EdgeError {
  return new EdgeError(code, message, { context, cause });
}
