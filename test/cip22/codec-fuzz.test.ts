/**
 * Seeded fuzz run: ≥ 1,000,000 random and mutated inputs through FrameDecoder and
 * decodeMessage. Nothing but Cip22ProtocolError may escape, buffering stays within
 * maxPayload + 7 bytes, and the run finishes (test timeout). Mutations with a recomputed
 * CRC reach decodeMessage through the decoder; every mutated payload is also decoded
 * directly, so the TLV/message checks see all of them. A failure prints the seed,
 * iteration and input, to be added as a fixture case in src/cip22/codec/testcases/.
 * CIP22_FUZZ_ITERATIONS overrides the count (e.g. for a longer soak).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Cip22ProtocolError,
  FrameDecoder,
  FrameType,
  crc8,
  decodeMessage,
  encodeFrame,
  encodeMessage,
} from '../../src/cip22/codec/index.js';
import { mulberry32 } from '../dtu/prng.js';
import { anyMessage } from './arbitraries.js';

const ITERATIONS = Number(process.env.CIP22_FUZZ_ITERATIONS ?? 1_000_000);
const SEED = 0xc1022000;
const MAX_PAYLOAD = 512;
const TYPES = [...Object.values(FrameType), 0x00, 0x0d, 0x80, 0xff];

type Random = () => number;
const int = (r: Random, n: number): number => Math.floor(r() * n);

function randomBytes(r: Random, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = int(r, 256);
  return out;
}

/** One of a few structure-aware or blind mutations of `input`. */
function mutate(r: Random, input: Buffer, corpus: readonly Buffer[]): Buffer {
  const b = Buffer.from(input);
  const at = b.length > 0 ? int(r, b.length) : 0;
  switch (int(r, 9)) {
    case 0:
      for (let k = 1 + int(r, 4); k > 0 && b.length > 0; k--) b[int(r, b.length)]! ^= 1 << int(r, 8);
      return b;
    case 1:
      if (b.length > 0) b[at] = int(r, 256);
      return b;
    case 2:
      return Buffer.concat([b.subarray(0, at), randomBytes(r, 1 + int(r, 8)), b.subarray(at)]);
    case 3:
      return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(r, 8))]);
    case 4:
      return b.subarray(0, at);
    case 5:
      return Buffer.concat([b, b.subarray(at, at + 1 + int(r, 16))]);
    case 6:
      return Buffer.concat([b.subarray(0, at), corpus[int(r, corpus.length)]!.subarray(int(r, 12))]);
    case 7: // a TLV length or the frame length: the fields parsers trust most
      if (b.length > 9) b[[4, 5, 8, 9][int(r, 4)]!] = [0x00, 0xff, 0x01, int(r, 256)][int(r, 4)]!;
      return b;
    default:
      return randomBytes(r, int(r, 48));
  }
}

function fixCrc(frame: Buffer): Buffer {
  if (frame.length >= 8) frame[frame.length - 1] = crc8(frame, 0, frame.length - 1);
  return frame;
}

function decodeOrProtocolError(
  type: number,
  payload: Buffer,
  version: '1.2' | '2.0',
  reproduce: () => string,
): void {
  try {
    decodeMessage(type, payload, version);
  } catch (error) {
    if (!(error instanceof Cip22ProtocolError))
      assert.fail(`decodeMessage threw ${String(error)}\n${reproduce()}`);
  }
}

test(
  `fuzz: ${ITERATIONS.toLocaleString('en-US')} random and mutated inputs never escape as anything but Cip22ProtocolError`,
  { timeout: 180_000 },
  () => {
    const corpus = fc
      .sample(anyMessage, { seed: SEED, numRuns: 300 })
      .map((m) => {
        const { type, payload } = encodeMessage(m);
        return encodeFrame(type, payload);
      })
      .filter((f) => f.length - 8 <= MAX_PAYLOAD);
    const r = mulberry32(SEED);
    let decoder = new FrameDecoder({ maxPayload: MAX_PAYLOAD });
    let framesDecoded = 0;
    let tooLong = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const base = corpus[int(r, corpus.length)]!;
      const input = r() < 0.5 ? fixCrc(mutate(r, base, corpus)) : mutate(r, base, corpus);
      const version = r() < 0.5 ? '2.0' : '1.2';
      const reproduce = (): string =>
        `seed ${SEED} iteration ${i} version ${version} input ${input.toString('hex')}`;
      decodeOrProtocolError(
        (input.length > 7 ? input[6] : TYPES[int(r, TYPES.length)])!,
        input.subarray(7, -1),
        version,
        reproduce,
      );
      const cut = int(r, input.length + 1);
      for (const chunk of [input.subarray(0, cut), input.subarray(cut)]) {
        for (const item of decoder.push(chunk)) {
          if (item.kind === 'too-long') {
            tooLong++;
            decoder = new FrameDecoder({ maxPayload: MAX_PAYLOAD });
            break;
          }
          framesDecoded++;
          decodeOrProtocolError(item.type, item.payload, version, reproduce);
        }
        assert.ok(
          decoder.bufferedBytes <= MAX_PAYLOAD + 7,
          `buffered ${decoder.bufferedBytes} bytes\n${reproduce()}`,
        );
      }
    }
    // The run must have exercised both paths, not just fed garbage to the resync loop.
    assert.ok(framesDecoded > ITERATIONS / 10, `only ${framesDecoded} frames passed the decoder`);
    assert.ok(tooLong > 0);
  },
);
