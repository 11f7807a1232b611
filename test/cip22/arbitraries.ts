/** fast-check arbitraries for every CIP-22 message type (valid values only). */
import fc from 'fast-check';
import { policyHash, type Cip22Message, type TariffWindow, type Tlv } from '../../src/cip22/codec/index.js';

const bytes = (length: number): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ minLength: length, maxLength: length }).map((a) => Buffer.from(a));
const varBytes = (min: number, max: number): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((a) => Buffer.from(a));
const point = bytes(64).map((b) => Buffer.concat([Buffer.from([4]), b]));
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: 0xffffffffffffffffn });
/** Strings whose UTF-8 encoding fits `maxBytes` (4 bytes per code point at worst). */
const text = (maxBytes: number, minLength = 0): fc.Arbitrary<string> =>
  fc.string({ unit: 'grapheme', minLength, maxLength: Math.floor(maxBytes / 4) });
const deviceId = fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/);
const version = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }));

/** Canonical policy: sorted, non-overlapping windows within the day. */
export const policy: fc.Arbitrary<TariffWindow[]> = fc
  .uniqueArray(fc.integer({ min: 0, max: 1440 }), { maxLength: 12 })
  .chain((cuts) => {
    const edges = [...cuts].sort((a, b) => a - b);
    const pairs: [number, number][] = [];
    for (let i = 0; i + 1 < edges.length; i += 2) pairs.push([edges[i]!, edges[i + 1]!]);
    return fc.tuple(
      ...pairs.map(([startMinute, endMinute]) =>
        fc.record(
          {
            startMinute: fc.constant(startMinute),
            endMinute: fc.constant(endMinute),
            priceMilli: u32,
            maxCurrentMa: u32,
          },
          { noNullPrototype: true },
        ),
      ),
    );
  });

const tlvs: fc.Arbitrary<Tlv[]> = fc.array(
  fc.record({ tag: fc.integer({ min: 0, max: 255 }), value: varBytes(0, 20) }, { noNullPrototype: true }),
  { maxLength: 4 },
);

function optional<T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.option(arb, { nil: undefined });
}

/** Plain objects (fc.record makes null-prototype ones) without undefined optional fields, so decode(encode(m)) deep-equals m. */
function clean<T extends object>(arb: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return arb.map((m) => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)) as T);
}

export const messages: Record<Cip22Message['type'], fc.Arbitrary<Cip22Message>> = {
  HELLO: clean(
    fc.record({
      type: fc.constant('HELLO' as const),
      deviceId,
      versions: fc.array(version, { minLength: 1, maxLength: 4 }),
      firmware: optional(text(255)),
      model: optional(text(255)),
      identityAlg: optional(fc.constantFrom(1 as const, 2 as const)),
    }),
  ),
  CHALLENGE: clean(
    fc.record({
      type: fc.constant('CHALLENGE' as const),
      nonce: bytes(16),
      validityMs: fc.integer({ min: 1, max: 0xffffffff }),
      policyHash: bytes(32),
      selectedVersion: version,
      gatewayEphemeralPub: point,
      sessionId: bytes(16),
    }),
  ),
  AUTH_RESP: clean(
    fc.record({
      type: fc.constant('AUTH_RESP' as const),
      signature: varBytes(1, 80),
      pileCert: varBytes(1, 600),
      issuerCert: varBytes(1, 600),
      pileEphemeralPub: point,
      policyHash: bytes(32),
    }),
  ),
  AUTH_OK: clean(
    fc.record({
      type: fc.constant('AUTH_OK' as const),
      heartbeatMs: fc.integer({ min: 1, max: 0xffffffff }),
      gatewayTimeMs: u64,
    }),
  ),
  AUTH_FAIL: clean(fc.record({ type: fc.constant('AUTH_FAIL' as const), reason: u16, text: text(200) })),
  ERROR: clean(fc.record({ type: fc.constant('ERROR' as const), reason: u16, text: text(200) })),
  HEARTBEAT: clean(fc.record({ type: fc.constant('HEARTBEAT' as const), timeMs: u64 })),
  STATUS: clean(
    fc.record({
      type: fc.constant('STATUS' as const),
      msgSeq: u32,
      state: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const),
      voltageMv: optional(u32),
      currentMa: optional(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
      energyWh: optional(u32),
      temperature01C: optional(fc.integer({ min: -32768, max: 32767 })),
      faultCode: optional(u16),
    }),
  ),
  BATT_TELEM: clean(
    fc.record({
      type: fc.constant('BATT_TELEM' as const),
      msgSeq: u32,
      batteryId: text(64, 1).filter((s) => Buffer.byteLength(s) >= 1),
      socPct: optional(fc.integer({ min: 0, max: 100 })),
      sohPct: optional(fc.integer({ min: 0, max: 100 })),
      cycles: optional(u32),
      bmsDigest: optional(bytes(32)),
    }),
  ),
  SET_POLICY: policy.map((windows) => ({
    type: 'SET_POLICY' as const,
    policy: windows,
    policyHash: policyHash(windows),
  })),
  CMD: clean(
    fc.record({
      type: fc.constant('CMD' as const),
      commandId: u32,
      command: fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const),
      params: optional(tlvs),
    }),
  ),
  CMD_ACK: clean(
    fc.record({ type: fc.constant('CMD_ACK' as const), msgSeq: u32, commandId: u32, result: u16 }),
  ),
  FAULT: clean(
    fc.record({
      type: fc.constant('FAULT' as const),
      msgSeq: u32,
      faultCode: u16,
      detail: optional(text(200)),
    }),
  ),
  ACK: clean(fc.record({ type: fc.constant('ACK' as const), msgSeq: u32 })),
};

export const anyMessage: fc.Arbitrary<Cip22Message> = fc.oneof(...Object.values(messages));
