/**
 * Test vectors of the CIP-22 working specification §9 (copied here: tests must not read
 * outside the repository). Produced by an independent implementation (Python hashlib
 * SM3, the cryptography package's SM4-GCM); re-derived with sm-crypto-v2 when copied.
 */
export const SPEC_VECTORS = {
  crcCheck: { input: '123456789', crc: 0xa1 },
  hello: {
    message: {
      type: 'HELLO',
      deviceId: 'pile-0001',
      versions: [
        [1, 2],
        [2, 0],
      ],
      firmware: 'fw-1.4.2',
    },
    frame: 'C1022000001E0101000970696C652D303030310200040102020003000866772D312E342E3203',
  },
  kdf: {
    z: Buffer.from(Array.from({ length: 32 }, (_, i) => i)),
    deviceId: 'pile-0001',
    sessionId: Buffer.from(Array.from({ length: 16 }, (_, i) => 0xa0 + i)),
    okm:
      '82BAC80623E624D0155953EFBF5FE73532D5ADD8983C23CC7AE389F21BDEFD63' +
      '557DE44BD6652082ED3DA3093B6880119D965DD6A71CDDBF',
  },
  sealedStatus: {
    message: { type: 'STATUS', msgSeq: 7, state: 1, voltageMv: 48123 },
    seq0: 'C1022000002207FF261A68BB5820F7C4FB1D689360C2C7CA9416FF855A84DDBF38F8FADB35680EF7FF60',
    seq1: 'C1022000002207CF1D268C6F7AD26C8DA12067CCA82B211ACEAFD0208A5D7B76788B6F08B7D8C0E90186',
  },
  /** SM4-GCM (RFC 8998 A.1) tag as the spec quotes it. */
  sm4GcmTag: '83DE3541E4C2B58177E065A9BF7B62EC',
} as const;

export const hex = (s: string): Buffer => Buffer.from(s, 'hex');
