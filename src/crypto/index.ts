/** `edge-agent/crypto`: the SM primitives CIP-22 uses, public for pile firmware teams. See README.md. */
export { sm3, hmacSm3, kdf2Sm3, SM3_LENGTH } from './hash.js';
export { Ghash } from './ghash.js';
export {
  sm4GcmSeal,
  sm4GcmOpen,
  Sm4GcmKey,
  Sm4GcmKeyCache,
  Sm4GcmError,
  NATIVE_SM4_GCM,
  SM4_KEY_LENGTH,
  SM4_GCM_IV_LENGTH,
  SM4_GCM_TAG_LENGTH,
  MAX_PLAINTEXT,
  type Sm4GcmErrorCode,
  type Sm4GcmImplementation,
} from './sm4-gcm.js';
