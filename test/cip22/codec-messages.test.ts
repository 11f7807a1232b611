/** TLV rules and typed messages: round trips, required/unknown/duplicate tags, lengths, ranges. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CIP22_REASONS,
  Cip22ProtocolError,
  FrameType,
  decodeMessage,
  decodeTlvs,
  encodeMessage,
  encodeTlvs,
  negotiateVersion,
  policyHash,
  reasonName,
  type Cip22ReasonName,
  type Tlv,
} from '../../src/cip22/codec/index.js';
import { messages } from './arbitraries.js';

const tlv = (tag: number, ...bytes: number[]): Tlv => ({ tag, value: Buffer.from(bytes) });
const status = (...extra: Tlv[]): Buffer => encodeTlvs([tlv(0xa1, 0, 0, 0, 7), tlv(0x50, 1), ...extra]);

function rejects(reason: Cip22ReasonName, fn: () => unknown, mentions: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Cip22ProtocolError, String(e));
    assert.equal(e.reasonName, reason);
    assert.equal(e.reason, CIP22_REASONS[reason]);
    assert.match(e.message, mentions);
    return true;
  });
}

for (const [name, arb] of Object.entries(messages)) {
  test(`property: ${name} round-trips through encodeMessage/decodeMessage in v1.2 and v2.0`, () => {
    fc.assert(
      fc.property(arb, (msg) => {
        const { type, payload } = encodeMessage(msg);
        assert.equal(type, FrameType[msg.type]);
        assert.deepEqual(decodeMessage(type, payload, '2.0'), msg);
        assert.deepEqual(decodeMessage(type, payload, '1.2'), msg);
      }),
      { numRuns: 150, seed: name.length * 7919 },
    );
  });
}

test('unknown tags: ignored in v1.2; in v2.0 an error below 0x80, an ignored extension from 0x80', () => {
  const low = status(tlv(0x5f, 1));
  assert.deepEqual(decodeMessage(FrameType.STATUS, low, '1.2'), { type: 'STATUS', msgSeq: 7, state: 1 });
  rejects('unknown-tag', () => decodeMessage(FrameType.STATUS, low, '2.0'), /STATUS \(0x07\).*0x5F/);
  const ext = status(tlv(0xf0, 1, 2, 3));
  assert.deepEqual(decodeMessage(FrameType.STATUS, ext, '2.0'), { type: 'STATUS', msgSeq: 7, state: 1 });
  const known = new Set([0xa1]);
  assert.deepEqual(
    decodeTlvs(ext, '2.0', new Set([0xa1, 0x50])).map((t) => t.tag),
    [0xa1, 0x50],
  );
  assert.throws(() => decodeTlvs(status(), '2.0', known), Cip22ProtocolError);
});

test('truncated TLVs are protocol errors in both versions', () => {
  const whole = status(tlv(0x51, 0, 0, 0xbb, 0xfb));
  for (const cut of [1, 2, 3, 5]) {
    for (const version of ['1.2', '2.0'] as const) {
      rejects(
        'truncated-tlv',
        () => decodeMessage(FrameType.STATUS, whole.subarray(0, whole.length - cut), version),
        /STATUS \(0x07\).*TLV 0x51/,
      );
    }
  }
});

test('missing required tag, duplicate tag, wrong fixed length, out-of-range value name frame and tag', () => {
  rejects(
    'missing-tag',
    () => decodeMessage(FrameType.STATUS, encodeTlvs([tlv(0xa1, 0, 0, 0, 1)]), '2.0'),
    /STATUS \(0x07\): tag 0x50 \(state\)/,
  );
  rejects(
    'duplicate-tag',
    () => decodeMessage(FrameType.STATUS, status(tlv(0x50, 0)), '2.0'),
    /tag 0x50 \(state\)/,
  );
  rejects(
    'bad-length',
    () => decodeMessage(FrameType.STATUS, status(tlv(0x51, 1, 2)), '2.0'),
    /tag 0x51 \(voltageMv\): expected 4 bytes, got 2/,
  );
  rejects(
    'bad-value',
    () => decodeMessage(FrameType.STATUS, encodeTlvs([tlv(0xa1, 0, 0, 0, 1), tlv(0x50, 9)]), '2.0'),
    /tag 0x50 \(state\): value 9 outside 0\.\.3/,
  );
  rejects(
    'bad-value',
    () => decodeMessage(FrameType.CMD, encodeTlvs([tlv(0x81, 0, 0, 0, 1), tlv(0x80, 5)]), '2.0'),
    /CMD \(0x0A\): tag 0x80/,
  );
  const hello = (id: number[]) => encodeTlvs([tlv(0x01, ...id), tlv(0x02, 2, 0)]);
  rejects(
    'bad-length',
    () => decodeMessage(FrameType.HELLO, hello([]), '2.0'),
    /HELLO \(0x01\): tag 0x01 \(deviceId\): expected 1\.\.64 bytes/,
  );
  rejects(
    'bad-value',
    () => decodeMessage(FrameType.HELLO, hello([0x61, 0x2f, 0x62]), '2.0'),
    /deviceId.*\/ \+ #/,
  );
  rejects('bad-value', () => decodeMessage(FrameType.HELLO, hello([0xc3, 0x28]), '2.0'), /deviceId.*UTF-8/);
  rejects(
    'bad-length',
    () => decodeMessage(FrameType.HELLO, encodeTlvs([tlv(0x01, 0x61), tlv(0x02, 2)]), '2.0'),
    /tag 0x02 \(versions\)/,
  );
  rejects('unknown-frame-type', () => decodeMessage(0x0d, Buffer.alloc(0), '2.0'), /type 0x0D/);
});

test('CHALLENGE ephemeral key must be an uncompressed point', () => {
  const fields = [
    tlv(0x10, ...Buffer.alloc(16)),
    tlv(0x11, 0, 0, 0x75, 0x30),
    tlv(0x12, ...Buffer.alloc(32)),
    tlv(0x13, 2, 0),
    tlv(0x14, 3, ...Buffer.alloc(64)),
    tlv(0x15, ...Buffer.alloc(16)),
  ];
  rejects(
    'bad-value',
    () => decodeMessage(FrameType.CHALLENGE, encodeTlvs(fields), '2.0'),
    /tag 0x14 \(gatewayEphemeralPub\): must start with 0x04/,
  );
});

test('SET_POLICY: canonical policy and matching hash enforced', () => {
  const windows = [
    { startMinute: 480, endMinute: 1320, priceMilli: 1500, maxCurrentMa: 3000 },
    { startMinute: 0, endMinute: 480, priceMilli: 800, maxCurrentMa: 5000 },
  ];
  const { payload } = encodeMessage({ type: 'SET_POLICY', policy: windows, policyHash: policyHash(windows) });
  const decoded = decodeMessage(FrameType.SET_POLICY, payload, '2.0');
  assert.deepEqual(decoded, {
    type: 'SET_POLICY',
    policy: [windows[1], windows[0]],
    policyHash: policyHash(windows),
  });
  const tampered = Buffer.from(payload);
  tampered[tampered.length - 1]! ^= 1;
  rejects(
    'bad-value',
    () => decodeMessage(FrameType.SET_POLICY, tampered, '2.0'),
    /SET_POLICY \(0x09\): tag 0x12 \(policyHash\)/,
  );
  const unsorted = Buffer.concat([payload.subarray(3, 15), payload.subarray(15, 27)].reverse());
  const swapped = encodeTlvs([
    { tag: 0x70, value: unsorted },
    { tag: 0x12, value: policyHash(windows) },
  ]);
  rejects(
    'bad-value',
    () => decodeMessage(FrameType.SET_POLICY, swapped, '2.0'),
    /tag 0x70 \(policy\): not a canonical/,
  );
  assert.throws(
    () => encodeMessage({ type: 'SET_POLICY', policy: windows, policyHash: Buffer.alloc(32) }),
    RangeError,
  );
});

test('encodeMessage refuses values the wire cannot carry (a local bug, RangeError naming the field)', () => {
  assert.throws(
    () => encodeMessage({ type: 'STATUS', msgSeq: -1, state: 0 }),
    /STATUS \(0x07\): tag 0xA1 \(msgSeq\)/,
  );
  assert.throws(() => encodeMessage({ type: 'HEARTBEAT', timeMs: 2n ** 64n }), /timeMs/);
  assert.throws(
    () => encodeMessage({ type: 'HELLO', deviceId: 'a'.repeat(65), versions: [[2, 0]] }),
    /deviceId/,
  );
});

test('reason codes are unique and named', () => {
  const codes = Object.values(CIP22_REASONS);
  assert.equal(new Set(codes).size, codes.length);
  assert.equal(reasonName(0x000b), 'bad-tag');
  assert.equal(reasonName(0x7777), 'reason-0x7777');
});

test('version negotiation picks the highest common version', () => {
  assert.equal(
    negotiateVersion([
      [1, 2],
      [2, 0],
    ]),
    '2.0',
  );
  assert.equal(negotiateVersion([[1, 2]]), '1.2');
  assert.equal(negotiateVersion([[2, 0]], ['1.2']), undefined);
  assert.equal(
    negotiateVersion([
      [3, 0],
      [1, 0],
    ]),
    undefined,
  );
});
