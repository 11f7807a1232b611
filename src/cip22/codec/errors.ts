/**
 * Protocol errors and the CIP-22 reason codes (u16, sent in ERROR 0x7F and AUTH_FAIL 0x05
 * frames as tag 0x3F). The spec leaves the values open; this table is the project's, and
 * docs/cip22.md lists it. Codes are stable: never renumber, only append.
 *   0x00xx framing and TLV    0x01xx handshake and identity    0x02xx session
 */
export const CIP22_REASONS = {
  'frame-too-long': 0x0001,
  'bad-crc': 0x0002,
  'truncated-tlv': 0x0003,
  'unknown-tag': 0x0004,
  'missing-tag': 0x0005,
  'bad-length': 0x0006,
  'bad-value': 0x0007,
  'duplicate-tag': 0x0008,
  'unknown-frame-type': 0x0009,
  'unexpected-frame': 0x000a,
  'bad-tag': 0x000b,
  'no-common-version': 0x0101,
  'unknown-device': 0x0102,
  'wrong-key-algorithm': 0x0103,
  'bad-certificate': 0x0104,
  'certificate-expired': 0x0105,
  'wrong-issuer': 0x0106,
  'cn-mismatch': 0x0107,
  'bad-signature': 0x0108,
  'nonce-expired': 0x0109,
  'nonce-reused': 0x010a,
  'handshake-timeout': 0x010b,
  'rate-limited': 0x010c,
  'too-many-sessions': 0x010d,
  'heartbeat-timeout': 0x0201,
  'shutting-down': 0x0202,
  'internal-error': 0x0203,
  'storage-unavailable': 0x0204,
} as const satisfies Record<string, number>;

export type Cip22ReasonName = keyof typeof CIP22_REASONS;

const NAMES = new Map<number, Cip22ReasonName>(
  Object.entries(CIP22_REASONS).map(([name, code]) => [code, name as Cip22ReasonName]),
);

/** The name of a reason code, or `reason-0xNNNN` for a code this table does not know. */
export function reasonName(code: number): string {
  return NAMES.get(code) ?? `reason-0x${code.toString(16).padStart(4, '0')}`;
}

export interface Cip22ErrorContext {
  /** Frame type id the error is about, when known. */
  readonly frameType?: number;
  /** TLV tag the error is about, when known. */
  readonly tag?: number;
}

/** A peer sent bytes that break the protocol. `reason` is the u16 to send in ERROR/AUTH_FAIL. */
export class Cip22ProtocolError extends Error {
  readonly reasonName: Cip22ReasonName;
  readonly reason: number;
  readonly frameType: number | undefined;
  readonly tag: number | undefined;

  constructor(
    reasonName: Cip22ReasonName,
    message: string,
    context: Cip22ErrorContext = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'Cip22ProtocolError';
    this.reasonName = reasonName;
    this.reason = CIP22_REASONS[reasonName];
    this.frameType = context.frameType;
    this.tag = context.tag;
  }
}
