/** Modbus RTU CRC-16 (polynomial 0xA001 reflected, init 0xFFFF), table driven. */
const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[i] = c;
  }
  return t;
})();

/** CRC of `data[start, end)`; on the wire it is sent low byte first. */
export function crc16(data: Uint8Array, start = 0, end = data.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ TABLE[(crc ^ data[i]!) & 0xff]!;
  return crc;
}

/** True when the last two bytes of `data[start, end)` are the CRC of the bytes before them. */
export function crcValid(data: Uint8Array, start: number, end: number): boolean {
  if (end - start < 3) return false;
  const crc = crc16(data, start, end - 2);
  return data[end - 2] === (crc & 0xff) && data[end - 1] === crc >>> 8;
}

/** `frame` followed by its CRC (low byte first). */
export function withCrc(frame: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(frame.length + 2);
  out.set(frame, 0);
  const crc = crc16(frame);
  out[frame.length] = crc & 0xff;
  out[frame.length + 1] = crc >>> 8;
  return out;
}
