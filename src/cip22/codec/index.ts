/** CIP-22 codec: pure framing, TLV, typed messages and session sealing. No I/O. */
export { crc8 } from './crc8.js';
export {
  FRAME_MAGIC,
  FRAME_HEADER_LENGTH,
  FRAME_OVERHEAD,
  MAX_FRAME_PAYLOAD,
  DEFAULT_MAX_PAYLOAD,
  FrameType,
  type FrameTypeName,
  frameTypeName,
  describeFrameType,
  frameHeader,
  encodeFrame,
} from './frame.js';
export { FrameDecoder, type DecodedItem, type FrameDecoderOptions, type FrameSink } from './decoder.js';
export {
  CIP22_REASONS,
  Cip22ProtocolError,
  reasonName,
  type Cip22ReasonName,
  type Cip22ErrorContext,
} from './errors.js';
export {
  encodeTlvs,
  decodeTlvs,
  parseTlvs,
  hexTag,
  EXTENSION_TAG_MIN,
  type Tlv,
  type Cip22Version,
} from './tlv.js';
export {
  encodePolicy,
  decodePolicy,
  policyHash,
  policyProblem,
  POLICY_WINDOW_LENGTH,
  MINUTES_PER_DAY,
  type TariffWindow,
} from './policy.js';
export * from './messages.js';
export { ackPayload, encodeMessage, decodeMessage, knownTags, messageTypeName } from './message-codec.js';
export { negotiateVersion, versionOf, versionPair, SUPPORTED_VERSIONS } from './version.js';
export {
  deriveSessionKeys,
  sealedNonce,
  sealFrame,
  openFrame,
  SESSION_OKM_LENGTH,
  SEAL_OVERHEAD,
  type SessionKeys,
  type SessionKey,
} from './seal.js';
