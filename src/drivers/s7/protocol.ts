/**
 * S7comm over ISO-on-TCP (RFC 1006): pure frame builders and parsers. Nothing here does
 * I/O or throws on a peer's bytes: every parser returns either the decoded frame or a
 * reason, so a malformed, truncated or hostile answer becomes a stable error code.
 *
 * Layout (all big endian): TPKT `03 00 len16`, COTP DT `02 F0 80`, S7 header
 * `32 rosctr 00 00 pduRef16 paramLen16 dataLen16 [errClass errCode]` (the error bytes
 * only in ack-data, ROSCTR 3), then parameter and data.
 */

const TPKT_HEADER = 4;
const COTP_DT = [0x02, 0xf0, 0x80] as const;
const DT_HEADER = TPKT_HEADER + COTP_DT.length; // 7
const JOB_HEADER = 10;
const ACK_HEADER = 12;
/** Bytes of a ReadVar/WriteVar request item (S7ANY pointer). */
export const ITEM_SPEC_BYTES = 12;
/** Header of a data item in a response: return code, transport size, length. */
export const ITEM_DATA_HEADER = 4;
/** Request overhead before the items: S7 job header + function + item count. */
export const REQUEST_OVERHEAD = JOB_HEADER + 2;
/** Response overhead before the data items: ack header + function + item count. */
export const RESPONSE_OVERHEAD = ACK_HEADER + 2;

const FN_SETUP = 0xf0;
const FN_READ = 0x04;
const FN_WRITE = 0x05;

/** Return codes of a data item (the PLC's per-item answer). */
export const ITEM_OK = 0xff;

export interface ItemSpec {
  readonly areaCode: number;
  readonly db: number;
  /** Byte offset; for timers/counters the element number. */
  readonly start: number;
  readonly bit: number;
  /** Bytes for byte-addressed areas; elements for timers/counters. */
  readonly length: number;
  /** 0x01 BIT (single-bit write), 0x02 BYTE, 0x1C counter, 0x1D timer. */
  readonly transport: number;
}

export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };
const bad = <T>(reason: string): Parsed<T> => ({ ok: false, reason });
const good = <T>(value: T): Parsed<T> => ({ ok: true, value });

// ---------- connection setup ----------

/** COTP connection request (CR) with the calling and called TSAPs. */
export function buildConnectRequest(localTsap: number, remoteTsap: number): Buffer {
  return Buffer.from([
    0x03,
    0x00,
    0x00,
    0x16, // TPKT, 22 bytes
    0x11,
    0xe0,
    0x00,
    0x00,
    0x00,
    0x01,
    0x00, // COTP CR, dst ref 0, src ref 1, class 0
    0xc0,
    0x01,
    0x0a, // TPDU size 1024
    0xc1,
    0x02,
    (localTsap >> 8) & 0xff,
    localTsap & 0xff,
    0xc2,
    0x02,
    (remoteTsap >> 8) & 0xff,
    remoteTsap & 0xff,
  ]);
}

/** Remote TSAP of a CPU by rack and slot (connection type PG). */
export function rackSlotTsap(rack: number, slot: number): number {
  return 0x0100 | ((rack & 0x07) << 5) | (slot & 0x1f);
}

export type CotpReply = { readonly kind: 'confirm' } | { readonly kind: 'refused'; readonly reason: string };

/** Classifies the answer to the CR: connection confirm (CC, 0xD0) or anything else. */
export function parseConnectReply(frame: Buffer): Parsed<CotpReply> {
  if (frame.length < TPKT_HEADER + 2) return bad(`COTP reply of ${frame.length} bytes`);
  const pduType = frame[TPKT_HEADER + 1]! & 0xf0;
  if (pduType === 0xd0) return good({ kind: 'confirm' });
  if (pduType === 0x80) return good({ kind: 'refused', reason: 'disconnect request (DR)' });
  if (pduType === 0x70) return good({ kind: 'refused', reason: 'TPDU error (ER)' });
  return good({ kind: 'refused', reason: `unexpected COTP PDU type 0x${pduType.toString(16)}` });
}

function dataFrame(s7: Buffer): Buffer {
  const out = Buffer.alloc(DT_HEADER + s7.length);
  out.writeUInt8(0x03, 0);
  out.writeUInt16BE(out.length, 2);
  out.set(COTP_DT, TPKT_HEADER);
  s7.copy(out, DT_HEADER);
  return out;
}

function jobHeader(pduRef: number, paramLength: number, dataLength: number): Buffer {
  const h = Buffer.alloc(JOB_HEADER);
  h[0] = 0x32;
  h[1] = 0x01;
  h.writeUInt16BE(pduRef & 0xffff, 4);
  h.writeUInt16BE(paramLength, 6);
  h.writeUInt16BE(dataLength, 8);
  return h;
}

/** Setup communication: proposes the PDU size and parallel jobs. */
export function buildSetupRequest(pduRef: number, pduSize: number, maxJobs: number): Buffer {
  const param = Buffer.from([FN_SETUP, 0x00, 0, 0, 0, 0, 0, 0]);
  param.writeUInt16BE(maxJobs, 2);
  param.writeUInt16BE(maxJobs, 4);
  param.writeUInt16BE(pduSize, 6);
  return dataFrame(Buffer.concat([jobHeader(pduRef, param.length, 0), param]));
}

export interface SetupReply {
  readonly pduSize: number;
  readonly maxJobs: number;
}

// ---------- ack-data ----------

export interface AckData {
  readonly pduRef: number;
  readonly errorClass: number;
  readonly errorCode: number;
  readonly param: Buffer;
  readonly data: Buffer;
}

/** Splits one TPKT frame holding an S7 ack-data PDU into its parts. */
export function parseAck(frame: Buffer): Parsed<AckData> {
  if (frame.length < DT_HEADER) return bad(`frame of ${frame.length} bytes is shorter than TPKT+COTP`);
  if (frame[TPKT_HEADER + 1] !== 0xf0)
    return bad(`COTP PDU type 0x${frame[TPKT_HEADER + 1]!.toString(16)} is not data`);
  const s7 = frame.subarray(TPKT_HEADER + 1 + frame[TPKT_HEADER]!);
  if (s7.length < ACK_HEADER) return bad(`S7 header truncated (${s7.length} bytes)`);
  if (s7[0] !== 0x32) return bad(`S7 protocol id 0x${s7[0]!.toString(16)}`);
  if (s7[1] !== 0x03 && s7[1] !== 0x02) return bad(`S7 PDU type ${s7[1]} is not an acknowledgement`);
  const headerLength = s7[1] === 0x03 ? ACK_HEADER : JOB_HEADER;
  const paramLength = s7.readUInt16BE(6);
  const dataLength = s7.readUInt16BE(8);
  if (headerLength + paramLength + dataLength > s7.length) {
    return bad(`S7 lengths (param ${paramLength}, data ${dataLength}) exceed the ${s7.length}-byte PDU`);
  }
  return good({
    pduRef: s7.readUInt16BE(4),
    errorClass: s7[1] === 0x03 ? s7.readUInt8(10) : 0,
    errorCode: s7[1] === 0x03 ? s7.readUInt8(11) : 0,
    param: s7.subarray(headerLength, headerLength + paramLength),
    data: s7.subarray(headerLength + paramLength, headerLength + paramLength + dataLength),
  });
}

/** The PDU ref of a data frame, or undefined (for matching answers to requests). */
export function framePduRef(frame: Buffer): number | undefined {
  const at = TPKT_HEADER + 1 + (frame[TPKT_HEADER] ?? 0) + 4;
  return frame.length >= at + 2 ? frame.readUInt16BE(at) : undefined;
}

export function parseSetupReply(ack: AckData): Parsed<SetupReply> {
  if (ack.errorClass !== 0 || ack.errorCode !== 0) {
    return bad(
      `PLC refused setup communication (error class 0x${hex(ack.errorClass)} code 0x${hex(ack.errorCode)})`,
    );
  }
  if (ack.param.length < 8 || ack.param[0] !== FN_SETUP) return bad('setup reply parameter malformed');
  const pduSize = ack.param.readUInt16BE(6);
  const maxJobs = Math.min(ack.param.readUInt16BE(2), ack.param.readUInt16BE(4));
  if (pduSize < 64) return bad(`PLC offered PDU size ${pduSize}`);
  return good({ pduSize, maxJobs: Math.max(1, maxJobs) });
}

// ---------- ReadVar ----------

function itemSpec(item: ItemSpec): Buffer {
  const b = Buffer.alloc(ITEM_SPEC_BYTES);
  b[0] = 0x12;
  b[1] = 0x0a;
  b[2] = 0x10;
  b[3] = item.transport;
  b.writeUInt16BE(item.length, 4);
  b.writeUInt16BE(item.db, 6);
  b[8] = item.areaCode;
  const bitAddress =
    item.transport === 0x1c || item.transport === 0x1d ? item.start : item.start * 8 + item.bit;
  b[9] = (bitAddress >> 16) & 0xff;
  b.writeUInt16BE(bitAddress & 0xffff, 10);
  return b;
}

export function buildReadRequest(pduRef: number, items: readonly ItemSpec[]): Buffer {
  const param = Buffer.concat([Buffer.from([FN_READ, items.length]), ...items.map(itemSpec)]);
  return dataFrame(Buffer.concat([jobHeader(pduRef, param.length, 0), param]));
}

/** One item of a ReadVar answer: the PLC's return code and, when 0xFF, the bytes. */
export type ReadItemResult =
  { readonly code: typeof ITEM_OK; readonly data: Buffer } | { readonly code: number };

export type ReadReply =
  | { readonly kind: 'items'; readonly items: readonly ReadItemResult[] }
  | { readonly kind: 'rejected'; readonly errorClass: number; readonly errorCode: number };

/**
 * Parses the answer to a ReadVar of `expected` items. A header error (class/code ≠ 0)
 * rejects the whole request. Each item carries its own return code; an error item is
 * exactly 4 bytes whatever its length field says (snap7 writes 4 there, CPUs 0: nodes7
 * divides that by 8 and crashes), so one bad item never shifts the others.
 */
export function parseReadReply(ack: AckData, expected: number): Parsed<ReadReply> {
  if (ack.errorClass !== 0 || ack.errorCode !== 0)
    return good({ kind: 'rejected', errorClass: ack.errorClass, errorCode: ack.errorCode });
  if (ack.param.length < 2 || ack.param[0] !== FN_READ) return bad('ReadVar reply parameter malformed');
  const count = ack.param[1];
  if (count !== expected) return bad(`ReadVar reply has ${count} items, ${expected} requested`);
  const items: ReadItemResult[] = [];
  const data = ack.data;
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + ITEM_DATA_HEADER > data.length)
      return bad(`item ${i} truncated (header at ${at} of ${data.length} bytes)`);
    const code = data[at]!; // at + ITEM_DATA_HEADER <= data.length
    if (code !== ITEM_OK) {
      items.push({ code });
      at += ITEM_DATA_HEADER;
      continue;
    }
    const transport = data[at + 1];
    const raw = data.readUInt16BE(at + 2);
    const length = transport === 0x03 || transport === 0x04 || transport === 0x05 ? Math.ceil(raw / 8) : raw;
    const end = at + ITEM_DATA_HEADER + length;
    if (end > data.length)
      return bad(`item ${i} declares ${length} bytes, only ${data.length - at - ITEM_DATA_HEADER} present`);
    items.push({ code, data: Buffer.from(data.subarray(at + ITEM_DATA_HEADER, end)) });
    at = end + (length % 2 === 1 && i < count - 1 ? 1 : 0);
  }
  return good({ kind: 'items', items });
}

// ---------- WriteVar ----------

export interface WriteItem {
  readonly spec: ItemSpec;
  readonly data: Buffer;
}

export function buildWriteRequest(pduRef: number, items: readonly WriteItem[]): Buffer {
  const param = Buffer.concat([Buffer.from([FN_WRITE, items.length]), ...items.map((i) => itemSpec(i.spec))]);
  const parts: Buffer[] = [];
  items.forEach((item, i) => {
    const header = Buffer.alloc(ITEM_DATA_HEADER);
    const bitWrite = item.spec.transport === 0x01;
    const octets = item.spec.transport === 0x1c || item.spec.transport === 0x1d;
    header[1] = bitWrite ? 0x03 : octets ? 0x09 : 0x04;
    header.writeUInt16BE(bitWrite ? 1 : octets ? item.data.length : item.data.length * 8, 2);
    parts.push(header, item.data);
    if (item.data.length % 2 === 1 && i < items.length - 1) parts.push(Buffer.alloc(1));
  });
  const data = Buffer.concat(parts);
  return dataFrame(Buffer.concat([jobHeader(pduRef, param.length, data.length), param, data]));
}

/** Bytes a WriteVar request of these items takes (for the PDU size check). */
export function writeRequestBytes(items: readonly WriteItem[]): number {
  return (
    REQUEST_OVERHEAD +
    items.reduce((n, i) => n + ITEM_SPEC_BYTES + ITEM_DATA_HEADER + i.data.length + (i.data.length % 2), 0)
  );
}

export type WriteReply =
  | { readonly kind: 'codes'; readonly codes: readonly number[] }
  | { readonly kind: 'rejected'; readonly errorClass: number; readonly errorCode: number };

export function parseWriteReply(ack: AckData, expected: number): Parsed<WriteReply> {
  if (ack.errorClass !== 0 || ack.errorCode !== 0)
    return good({ kind: 'rejected', errorClass: ack.errorClass, errorCode: ack.errorCode });
  if (ack.param.length < 2 || ack.param[0] !== FN_WRITE) return bad('WriteVar reply parameter malformed');
  if (ack.param[1] !== expected) return bad(`WriteVar reply has ${ack.param[1]} items, ${expected} written`);
  if (ack.data.length < expected)
    return bad(`WriteVar reply carries ${ack.data.length} return codes, ${expected} expected`);
  return good({ kind: 'codes', codes: [...ack.data.subarray(0, expected)] });
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}

// ---------- stream framing ----------

/**
 * Cuts a TCP byte stream into TPKT frames (a frame may arrive in pieces or several in
 * one chunk). Bytes that are not TPKT version 3 mean the stream is out of step: the
 * caller must drop the connection.
 */
export class TpktReader {
  private buffered: Buffer = Buffer.alloc(0);

  /** Appends a chunk; returns the complete frames, or a reason when the stream is broken. */
  push(chunk: Buffer): Parsed<Buffer[]> {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: Buffer[] = [];
    while (this.buffered.length >= TPKT_HEADER) {
      if (this.buffered[0] !== 0x03) return bad(`TPKT version byte 0x${hex(this.buffered[0]!)}`);
      const length = this.buffered.readUInt16BE(2);
      if (length < DT_HEADER - 1) return bad(`TPKT length ${length}`);
      if (this.buffered.length < length) break;
      frames.push(Buffer.from(this.buffered.subarray(0, length)));
      this.buffered = this.buffered.subarray(length);
    }
    return good(frames);
  }

  get pending(): number {
    return this.buffered.length;
  }
}
