/**
 * Fixture cases in src/cip22/codec/testcases/<case>/case.json: `chunks` (hex reads) go
 * through one FrameDecoder ({maxPayload}); every frame is then decoded as `version`
 * (default 2.0). `expect` may give
 *   items         — decoder output: {type, payload hex} or {tooLong: N};
 *   itemsPerChunk — how many items each push returned;
 *   counters      — frames, discardedBytes, badCrcFrames, bufferedBytes after the last push;
 *   messages      — per frame, the decoded message (Buffers as hex, bigints as strings) or
 *                   {error: reason name, mentions: regex on the message}.
 * Read from the source tree (process.cwd() is the repo root when tests run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  Cip22ProtocolError,
  FrameDecoder,
  decodeMessage,
  type Cip22Version,
  type DecodedItem,
} from '../../src/cip22/codec/index.js';

interface FixtureCase {
  readonly description: string;
  readonly maxPayload?: number;
  readonly version?: Cip22Version;
  readonly chunks: readonly string[];
  readonly expect: {
    readonly items?: readonly unknown[];
    readonly itemsPerChunk?: readonly number[];
    readonly counters?: Readonly<Record<string, number>>;
    readonly messages?: readonly unknown[];
  };
}

const root = join(process.cwd(), 'src/cip22/codec/testcases');
const cases = existsSync(root)
  ? readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort()
  : [];

/** JSON-comparable form: Buffers as upper-case hex, bigints as decimal strings. */
function plain(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value.toString('hex').toUpperCase();
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

function itemJson(item: DecodedItem): unknown {
  return item.kind === 'frame'
    ? { type: item.type, payload: item.payload.toString('hex').toUpperCase() }
    : { tooLong: item.length };
}

test('fixture cases exist', () => {
  assert.ok(cases.length >= 8, `found ${cases.length} cases in ${root}`);
});

for (const name of cases) {
  test(`fixture: ${name}`, () => {
    const c = JSON.parse(readFileSync(join(root, name, 'case.json'), 'utf8')) as FixtureCase;
    assert.ok(c.description.length > 0);
    const decoder = new FrameDecoder({ maxPayload: c.maxPayload ?? 4096 });
    const perChunk = c.chunks.map((hex) => decoder.push(Buffer.from(hex, 'hex')));
    const items = perChunk.flat();
    const { expect } = c;
    if (expect.items)
      assert.deepEqual(
        items.map(itemJson),
        expect.items.map((i) => plain(i)),
      );
    if (expect.itemsPerChunk)
      assert.deepEqual(
        perChunk.map((p) => p.length),
        expect.itemsPerChunk,
      );
    for (const [counter, value] of Object.entries(expect.counters ?? {})) {
      assert.equal(
        decoder[counter as 'frames' | 'discardedBytes' | 'badCrcFrames' | 'bufferedBytes'],
        value,
        counter,
      );
    }
    if (expect.messages) {
      const frames = items.filter((i) => i.kind === 'frame');
      assert.equal(frames.length, expect.messages.length, 'one expected message per frame');
      frames.forEach((frame, k) => {
        const want = expect.messages![k] as { error?: string; mentions?: string };
        if (want.error) {
          assert.throws(
            () => decodeMessage(frame.type, frame.payload, c.version ?? '2.0'),
            (e: unknown) => {
              assert.ok(e instanceof Cip22ProtocolError, String(e));
              assert.equal(e.reasonName, want.error);
              assert.match(e.message, new RegExp(want.mentions ?? ''));
              return true;
            },
          );
        } else {
          assert.deepEqual(plain(decodeMessage(frame.type, frame.payload, c.version ?? '2.0')), want);
        }
      });
    }
  });
}
