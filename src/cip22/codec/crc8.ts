/** CRC-8/I-432-1 ("ITU"): poly 0x07, init 0x00, no reflection, xorout 0x55. Check("123456789") = 0xA1. */
const TABLE: Uint8Array = (() => {
  const table = new Uint8Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let i = 0; i < 8; i++) c = c & 0x80 ? ((c << 1) ^ 0x07) & 0xff : (c << 1) & 0xff;
    table[n] = c;
  }
  return table;
})();

export function crc8(data: Uint8Array, start = 0, end = data.length): number {
  let c = 0;
  for (let i = start; i < end; i++) c = TABLE[c ^ data[i]!]!;
  return c ^ 0x55;
}
