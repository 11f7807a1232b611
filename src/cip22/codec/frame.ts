/** CIP-22 frame layout (spec §2): magic C1 02 20 00 | N u16 | type u8 | payload (N) | CRC-8. */
import { crc8 } from './crc8.js';

export const FRAME_MAGIC: Buffer = Buffer.from([0xc1, 0x02, 0x20, 0x00]);
export const FRAME_HEADER_LENGTH = 7;
/** Header plus the trailing CRC byte. */
export const FRAME_OVERHEAD = 8;
export const MAX_FRAME_PAYLOAD = 0xffff;
export const DEFAULT_MAX_PAYLOAD = 4096;

export const FrameType = {
  HELLO: 0x01,
  CHALLENGE: 0x02,
  AUTH_RESP: 0x03,
  AUTH_OK: 0x04,
  AUTH_FAIL: 0x05,
  HEARTBEAT: 0x06,
  STATUS: 0x07,
  BATT_TELEM: 0x08,
  SET_POLICY: 0x09,
  CMD: 0x0a,
  CMD_ACK: 0x0b,
  FAULT: 0x0c,
  ACK: 0x0e,
  ERROR: 0x7f,
} as const;

export type FrameTypeName = keyof typeof FrameType;

const TYPE_NAMES = new Map<number, FrameTypeName>(
  Object.entries(FrameType).map(([name, id]) => [id, name as FrameTypeName]),
);

export function frameTypeName(type: number): FrameTypeName | undefined {
  return TYPE_NAMES.get(type);
}

/** "STATUS (0x07)", or "type 0x0D" for an id the spec does not define; for messages. */
export function describeFrameType(type: number): string {
  const hex = `0x${type.toString(16).padStart(2, '0').toUpperCase()}`;
  const name = TYPE_NAMES.get(type);
  return name ? `${name} (${hex})` : `type ${hex}`;
}

export function frameHeader(type: number, payloadLength: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_LENGTH);
  writeFrameHeader(header, type, payloadLength);
  return header;
}

/** Writes the 7 header bytes at the start of `out` (a whole frame's buffer). */
export function writeFrameHeader(out: Buffer, type: number, payloadLength: number): void {
  if (!Number.isInteger(type) || type < 0 || type > 0xff)
    throw new RangeError(`frame type must be a u8, got ${type}`);
  if (!Number.isInteger(payloadLength) || payloadLength < 0 || payloadLength > MAX_FRAME_PAYLOAD) {
    throw new RangeError(
      `${describeFrameType(type)}: payload of ${payloadLength} bytes exceeds the u16 length field`,
    );
  }
  FRAME_MAGIC.copy(out, 0);
  out.writeUInt16BE(payloadLength, 4);
  out[6] = type;
}

/** Whole frame: header, payload, CRC over both. */
export function encodeFrame(type: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_OVERHEAD + payload.length);
  writeFrameHeader(frame, type, payload.length);
  frame.set(payload, FRAME_HEADER_LENGTH);
  frame[frame.length - 1] = crc8(frame, 0, frame.length - 1);
  return frame;
}
