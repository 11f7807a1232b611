/**
 * The drain reader's side of a chunk (chunk-worker.ts) and its way to the publishing thread.
 *
 * Reading: for the JSON format SQLite itself writes each record's fragment of the payload
 * (`{"id":…,"seq":…,"ts":…,"values":<body>}`, byte for byte what recordFragment makes), so
 * the worker makes no StoredRecord, no id string and no per-record concatenation: per row it
 * only groups a ready string. A row SQLite cannot render as JS would (a seq or ts that is not
 * an integer, a body that is not text) is read and rendered the usual way. Other formats read
 * records and build as before.
 *
 * Transfer: the messages' wire bytes go in one ArrayBuffer and their rowids in one
 * Float64Array, both transferred (moved, not copied); the publishing thread gets Buffer views
 * it writes as they are, with no UTF-8 encoding and no structured clone of the payloads.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { RecordClass, StoredRecord } from '../../core/types.js';
import { readPage, type PageRequest } from '../../store/sqlite-read.js';
import { CLS_EVENT, CLS_TELEMETRY } from '../../store/outbox.js';
import type { PublishProperties } from './compact.js';
import {
  jsonString,
  MessageGrouper,
  recordFragment,
  type BuiltMessage,
  type PayloadBuilder,
} from './payload.js';

/**
 * The fragment query: one string per row, `<rowid>:<cls digit><device>\u0001<fragment>`
 * (a single column: a row array and a device string per row cost the reader more than
 * SQLite's whole read), or just `<rowid>:` where SQLite's text of a value could differ from
 * JavaScript's or the device holds the separator (such rows are rendered by JavaScript).
 */
export const FRAGMENT_SQL = `SELECT rowid || ':' ||
  CASE WHEN typeof(seq) = 'integer' AND typeof(ts) = 'integer' AND typeof(body) = 'text'
      AND typeof(cls) = 'integer' AND cls IN (${CLS_TELEMETRY}, ${CLS_EVENT}) AND instr(device, char(1)) = 0
    THEN cls || device || char(1) || '{"id":"' || @prefix || rowid || '","seq":' || seq || ',"ts":' || ts ||
      CASE cls WHEN ${CLS_EVENT} THEN ',"event":' ELSE ',"values":' END || body || '}'
    ELSE ''
  END
FROM records WHERE rowid > @after AND rowid < @before ORDER BY rowid LIMIT @limit`;

const EVENT_DIGIT = 48 + CLS_EVENT;

export interface ChunkStatements {
  /** FRAGMENT_SQL, plucked. */
  readonly fragments: BetterSqlite3.Statement;
  /** The records read of sqlite-read.ts (rowid, seq, device, cls, ts, body), raw. */
  readonly records: BetterSqlite3.Statement;
}

export interface BuiltChunk {
  /** Rowid of the last record read; 0 when the range had none. */
  readonly last: number;
  readonly messages: BuiltMessage[];
}

/**
 * Reads a chunk of committed records and builds its messages. Bounded by `limit` rows and
 * `maxBytes`: JSON fragments counted by their length (they hold the body and are what the
 * reader keeps in memory), other formats by body length (readPage).
 */
export function readChunk(
  s: ChunkStatements,
  idPrefix: string,
  builder: PayloadBuilder,
  req: PageRequest & { readonly replay: boolean },
): BuiltChunk {
  const grouper = new MessageGrouper(builder, req.replay);
  if (!grouper.json) {
    const records = readPage(s.records, idPrefix, 0, req);
    return {
      last: records.at(-1)?.rowid ?? 0,
      messages: records.length > 0 ? builder.build(records, req.replay) : [],
    };
  }
  if (req.limit <= 0) return { last: 0, messages: [] };
  const rows = s.fragments.all({
    prefix: jsonString(idPrefix).slice(1, -1), // digits follow: the id's escaping is the prefix's
    after: req.afterRowid,
    before: req.beforeRowid ?? Number.MAX_SAFE_INTEGER,
    limit: req.limit,
  }) as string[];
  let total = 0;
  let last = 0;
  for (const line of rows) {
    const colon = line.indexOf(':');
    let rowid = 0;
    for (let i = 0; i < colon; i++) rowid = rowid * 10 + line.charCodeAt(i) - 48;
    const sep = line.indexOf('\u0001', colon);
    const record = sep < 0 ? slowRecord(s.records, idPrefix, rowid) : undefined;
    const fragment = record ? recordFragment(record) : line.slice(sep + 1);
    if (last > 0 && total + fragment.length > req.maxBytes) break;
    total += fragment.length;
    last = rowid;
    if (record) grouper.add(record.device, record.cls, rowid, fragment);
    else {
      const cls = line.charCodeAt(colon + 1) === EVENT_DIGIT ? 'event' : 'telemetry';
      grouper.add(line.slice(colon + 2, sep), cls, rowid, fragment);
    }
  }
  return { last, messages: last > 0 ? grouper.finish() : [] };
}

function slowRecord(records: BetterSqlite3.Statement, idPrefix: string, rowid: number): StoredRecord {
  const [record] = readPage(records, idPrefix, 0, {
    afterRowid: rowid - 1,
    beforeRowid: rowid + 1,
    limit: 1,
    maxBytes: Infinity,
  });
  if (!record) throw new Error(`record ${rowid} vanished while its chunk was read`);
  return record;
}

interface PackedMessage {
  readonly topic: string;
  readonly device: string;
  readonly cls: RecordClass;
  readonly replay: boolean;
  /** End of its wire bytes in `bytes`, of its rowids in `rowids` (each starts where the previous ended). */
  readonly bytesEnd: number;
  readonly rowidsEnd: number;
  /** The payload text, when the wire bytes are not simply its UTF-8 (compressed). */
  readonly text?: string;
  readonly properties?: PublishProperties;
}

export interface PackedChunk {
  readonly last: number;
  readonly bytes: ArrayBuffer;
  readonly rowids: Float64Array;
  readonly messages: PackedMessage[];
}

/** A chunk for postMessage; transfer `transferList(packed)`. */
export function packChunk(chunk: BuiltChunk): PackedChunk {
  const wire = chunk.messages.map((m) => m.bytes ?? m.payload);
  let size = 0;
  let rowidCount = 0;
  for (const w of wire) size += typeof w === 'string' ? Buffer.byteLength(w, 'utf8') : w.length;
  for (const m of chunk.messages) rowidCount += m.rowids.length;
  const bytes = new ArrayBuffer(size);
  const out = Buffer.from(bytes);
  const rowids = new Float64Array(rowidCount);
  const messages: PackedMessage[] = [];
  let at = 0;
  let r = 0;
  chunk.messages.forEach((m, i) => {
    const w = wire[i]!;
    at += typeof w === 'string' ? out.write(w, at, 'utf8') : w.copy(out, at);
    for (const rowid of m.rowids) rowids[r++] = rowid;
    const plain = !m.bytes && !m.properties;
    messages.push({
      topic: m.topic,
      device: m.device,
      cls: m.cls,
      replay: m.replay,
      bytesEnd: at,
      rowidsEnd: r,
      ...(plain ? {} : { text: m.payload }),
      ...(m.properties ? { properties: m.properties } : {}),
    });
  });
  return { last: chunk.last, bytes, rowids, messages };
}

export function transferList(packed: PackedChunk): ArrayBuffer[] {
  return [packed.bytes, packed.rowids.buffer as ArrayBuffer];
}

/** The messages of a packed chunk: `bytes` are views on its buffer; `payload` is decoded when asked. */
export function unpackChunk(packed: PackedChunk): BuiltChunk {
  const all = Buffer.from(packed.bytes);
  const messages: BuiltMessage[] = [];
  let at = 0;
  let r = 0;
  for (const m of packed.messages) {
    const bytes = all.subarray(at, m.bytesEnd);
    const rowids = new Array<number>(m.rowidsEnd - r);
    for (let i = 0; i < rowids.length; i++) rowids[i] = packed.rowids[r + i]!;
    at = m.bytesEnd;
    r = m.rowidsEnd;
    const common = { topic: m.topic, bytes, rowids, device: m.device, cls: m.cls, replay: m.replay };
    if (m.text !== undefined)
      messages.push({ ...common, payload: m.text, ...(m.properties ? { properties: m.properties } : {}) });
    else
      messages.push({
        ...common,
        get payload(): string {
          return bytes.toString('utf8');
        },
      });
  }
  return { last: packed.last, messages };
}
