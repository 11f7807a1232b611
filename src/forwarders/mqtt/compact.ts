/**
 * The compact payload format (docs/mqtt-payload.md#compact-format) and its compression.
 * Carries exactly the records of the JSON format (same ids, seqs, ts, values, quality),
 * sharing what records of one message have in common: tag names once, the id prefix once,
 * seq and ts as deltas from the previous record.
 *
 * Encoding parses each stored body (the JSON format embeds it verbatim); numbers survive
 * JSON.parse/JSON.stringify exactly, so a decoded record equals the JSON one.
 */
import { brotliCompressSync, brotliDecompressSync, constants, deflateSync, inflateSync } from 'node:zlib';
import type { RecordClass, StoredRecord } from '../../core/types.js';

export type PayloadFormat = 'json' | 'compact';
export type PayloadCompression = 'none' | 'deflate' | 'brotli';

export const COMPACT_CONTENT_TYPE = 'application/vnd.edge-agent.compact+json';
export const JSON_CONTENT_TYPE = 'application/json';
/** The MQTT 5 user property naming the compression, as HTTP's Content-Encoding does. */
export const ENCODING_PROPERTY = 'content-encoding';
const ENCODING_NAME: Record<Exclude<PayloadCompression, 'none'>, string> = {
  deflate: 'deflate',
  brotli: 'br',
};

type CompactEntry =
  | [number, unknown]
  | [number, unknown, string]
  | [number, null, string, string]
  | [number, null, string, string, string];

interface StoredValue {
  readonly v: unknown;
  readonly q: 'good' | 'bad';
  readonly code?: string;
  readonly reason?: string;
  readonly src?: string;
}

/** Longest common prefix of the ids, cut after its last "-" so suffixes stay whole numbers. */
function idPrefix(records: readonly StoredRecord[]): string {
  const first = records[0];
  if (!first) return '';
  let prefix = first.id;
  for (const r of records) {
    let i = 0;
    while (i < prefix.length && i < r.id.length && prefix.charCodeAt(i) === r.id.charCodeAt(i)) i++;
    prefix = prefix.slice(0, i);
  }
  return prefix.slice(0, prefix.lastIndexOf('-') + 1);
}

/**
 * `agent` and `site` are left out: the site is the topic's {site} level (a validated topic
 * segment, so exact) and the agent is named by the site's retained status message.
 */
export function encodeCompact(
  deviceJson: string,
  cls: RecordClass,
  records: readonly StoredRecord[],
  replay: boolean,
): string {
  const prefix = idPrefix(records);
  const tagIndex = new Map<string, number>();
  const rows: unknown[] = [];
  let seq = 0;
  let ts = 0;
  for (const r of records) {
    const body: unknown = JSON.parse(r.body);
    let payload: unknown = body;
    if (cls === 'telemetry') {
      const entries: CompactEntry[] = [];
      for (const [tag, value] of Object.entries(body as Record<string, StoredValue>)) {
        let i = tagIndex.get(tag);
        if (i === undefined) {
          i = tagIndex.size;
          tagIndex.set(tag, i);
        }
        entries.push(compactEntry(i, value));
      }
      payload = entries;
    }
    rows.push([r.id.slice(prefix.length), r.seq - seq, r.ts - ts, payload]);
    seq = r.seq;
    ts = r.ts;
  }
  const tags = cls === 'telemetry' ? `,"tags":${JSON.stringify([...tagIndex.keys()])}` : '';
  return (
    '{"v":1,"fmt":"compact","device":' +
    deviceJson +
    (replay ? ',"replay":true' : '') +
    `,"idp":${JSON.stringify(prefix)}` +
    tags +
    `,"records":${JSON.stringify(rows)}}`
  );
}

function compactEntry(i: number, value: StoredValue): CompactEntry {
  if (value.q === 'good') return value.src === undefined ? [i, value.v] : [i, value.v, value.src];
  const code = value.code ?? '';
  const reason = value.reason ?? '';
  return value.src === undefined ? [i, null, code, reason] : [i, null, code, reason, value.src];
}

/** A message of the JSON format (docs/mqtt-payload.md), as a consumer sees it. */
export interface JsonMessage {
  v: 1;
  agent: string;
  site: string;
  device: string;
  replay?: true;
  records: Array<{
    id: string;
    seq: number;
    ts: number;
    values?: Record<string, StoredValue>;
    event?: unknown;
  }>;
}

interface CompactMessage {
  readonly v: 1;
  readonly fmt: 'compact';
  readonly device: string;
  readonly replay?: true;
  readonly idp: string;
  readonly tags?: readonly string[];
  readonly records: ReadonlyArray<readonly [string, number, number, unknown]>;
}

/** Who published a message: the topic's {site} level and the agent of the site's status message. */
export interface Origin {
  readonly agent: string;
  readonly site: string;
}

/** The reference decoder: a compact message back to the JSON format's message. */
export function decodeCompact(message: unknown, origin: Origin): JsonMessage {
  const m = message as CompactMessage;
  if (m.fmt !== 'compact') throw new Error('not a compact message');
  const out: JsonMessage = { v: 1, agent: origin.agent, site: origin.site, device: m.device, records: [] };
  if (m.replay) out.replay = true;
  let seq = 0;
  let ts = 0;
  for (const [suffix, dSeq, dTs, payload] of m.records) {
    seq += dSeq;
    ts += dTs;
    const record: JsonMessage['records'][number] = { id: m.idp + suffix, seq, ts };
    if (m.tags) record.values = expandValues(m.tags, payload as readonly CompactEntry[]);
    else record.event = payload;
    out.records.push(record);
  }
  return out;
}

function expandValues(
  tags: readonly string[],
  entries: readonly CompactEntry[],
): Record<string, StoredValue> {
  const values: Record<string, StoredValue> = {};
  for (const e of entries) {
    const tag = tags[e[0]];
    if (tag === undefined) throw new Error(`tag index ${e[0]} out of range`);
    const [, v, a, b, c] = e as readonly [number, unknown, string?, string?, string?];
    const value: StoredValue =
      e.length <= 3
        ? a === undefined
          ? { v, q: 'good' }
          : { v, q: 'good', src: a }
        : { v: null, q: 'bad', code: a ?? '', reason: b ?? '', ...(c === undefined ? {} : { src: c }) };
    // An own property even for a tag named "__proto__", as JSON.parse makes it.
    Object.defineProperty(values, tag, { value, enumerable: true, writable: true, configurable: true });
  }
  return values;
}

export interface PublishProperties {
  readonly contentType: string;
  readonly payloadFormatIndicator: boolean;
  readonly userProperties?: Record<string, string>;
}

/**
 * The bytes and MQTT 5 properties of a compressed payload: its content type and encoding.
 * Uncompressed payloads carry no property, as before: they are JSON, and a compact one
 * says so itself ("fmt":"compact"); on messages of a few records, 40 bytes of properties
 * would eat most of what the compact format saves.
 */
export function encodePayload(
  text: string,
  format: PayloadFormat,
  compression: PayloadCompression,
): { payload: string | Buffer; properties: PublishProperties | undefined } {
  const contentType = format === 'compact' ? COMPACT_CONTENT_TYPE : JSON_CONTENT_TYPE;
  switch (compression) {
    case 'none':
      return { payload: text, properties: undefined };
    case 'deflate':
    case 'brotli': {
      const raw = Buffer.from(text, 'utf8');
      const payload =
        compression === 'deflate'
          ? deflateSync(raw, { level: 6 })
          : brotliCompressSync(raw, {
              params: {
                [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
                // 11 costs ~10× the CPU of 6 for a few % fewer bytes on these payloads.
                [constants.BROTLI_PARAM_QUALITY]: 6,
                [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
              },
            });
      return {
        payload,
        properties: {
          contentType,
          payloadFormatIndicator: false,
          userProperties: { [ENCODING_PROPERTY]: ENCODING_NAME[compression] },
        },
      };
    }
  }
}

/** What a consumer does: undo the announced encoding, parse, expand a compact message. */
export function decodePayload(
  payload: Buffer,
  properties: Partial<PublishProperties> | undefined,
  origin: Origin,
): JsonMessage {
  const encoding = properties?.userProperties?.[ENCODING_PROPERTY];
  const raw =
    encoding === 'deflate'
      ? inflateSync(payload)
      : encoding === 'br'
        ? brotliDecompressSync(payload)
        : payload;
  const parsed = JSON.parse(raw.toString('utf8')) as { fmt?: unknown };
  return parsed.fmt === 'compact' ? decodeCompact(parsed, origin) : (parsed as JsonMessage);
}
