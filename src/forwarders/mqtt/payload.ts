/**
 * MQTT topics and payloads (docs/mqtt-payload.md, docs/mqtt-payload.schema.json).
 *
 * Payloads are built by string concatenation around the stored bodies, which are
 * already JSON (core/record-codec): draining a backlog never parses or re-serialises a
 * record. Only the short identifiers (agent, site, device, record id) are escaped.
 */
import type { MqttConfig } from '../../config/sections/mqtt.js';
import type { RecordClass, StoredRecord } from '../../core/types.js';
import {
  encodeCompact,
  encodePayload,
  type PayloadCompression,
  type PayloadFormat,
  type PublishProperties,
} from './compact.js';

const PAYLOAD_VERSION = 1;

/** One MQTT message: records of one device and one class, in rowid order. */
export interface BuiltMessage {
  readonly topic: string;
  /** The payload text (JSON or compact), before compression. */
  readonly payload: string;
  /** What goes on the wire when compressed; absent: `payload` as UTF-8. */
  readonly bytes?: Buffer;
  /** MQTT 5 properties announcing format and encoding; absent for the default JSON. */
  readonly properties?: PublishProperties;
  readonly rowids: number[];
  readonly device: string;
  readonly cls: RecordClass;
  readonly replay: boolean;
}

export interface PayloadOptions {
  readonly topicPrefix: string;
  readonly site: string;
  readonly agentId: string;
  readonly maxRecords: number;
  /** Bound on the payload size, counted in UTF-16 code units (= bytes for ASCII). */
  readonly maxBytes: number;
  /** Default json (docs/mqtt-payload.md); compact shares tag names, id prefix, deltas. */
  readonly format?: PayloadFormat;
  /** Default none. */
  readonly compression?: PayloadCompression;
}

/** The builder's options from the mqtt config (sparkplug builds in its uplink: json here). */
export function payloadOptions(config: MqttConfig, site: string, agentId: string): PayloadOptions {
  return {
    topicPrefix: config.topicPrefix,
    site,
    agentId,
    maxRecords: config.batch.maxRecords,
    maxBytes: config.batch.maxBytes,
    format: config.payload.format === 'sparkplug' ? 'json' : config.payload.format,
    compression: config.payload.compression,
  };
}

/** MQTT topic levels must not contain wildcards, separators or NUL. */
function topicLevel(segment: string): string {
  const cleaned = segment.replace(/[/+#\u0000]/g, '_');
  return cleaned.length > 0 ? cleaned : '_';
}

export function statusTopic(prefix: string, site: string): string {
  return `${prefix}/${topicLevel(site)}/agent/status`;
}

export function recordTopic(prefix: string, site: string, device: string, cls: RecordClass): string {
  return `${prefix}/${topicLevel(site)}/${topicLevel(device)}/${cls === 'telemetry' ? 'telemetry' : 'event'}`;
}

export interface StatusPayload {
  readonly v: 1;
  readonly state: 'online' | 'offline';
  readonly agent: string;
  readonly site: string;
  readonly ts?: number;
  readonly reason?: 'stopped' | 'connection-lost';
  /** The active config: sha256 of its text and its version (a pushed config's). */
  readonly config?: { readonly hash: string; readonly version: string | null };
}

export function onlineStatus(
  agent: string,
  site: string,
  ts: number,
  config?: StatusPayload['config'],
): string {
  return JSON.stringify({
    v: PAYLOAD_VERSION,
    state: 'online',
    agent,
    site,
    ts,
    ...(config ? { config } : {}),
  } satisfies StatusPayload);
}

/** The retained last will: the broker publishes it when the connection is lost. */
export function willStatus(agent: string, site: string): string {
  return JSON.stringify({
    v: PAYLOAD_VERSION,
    state: 'offline',
    agent,
    site,
    reason: 'connection-lost',
  } satisfies StatusPayload);
}

export function stoppedStatus(agent: string, site: string, ts: number): string {
  return JSON.stringify({
    v: PAYLOAD_VERSION,
    state: 'offline',
    agent,
    site,
    ts,
    reason: 'stopped',
  } satisfies StatusPayload);
}

/** JSON string literal; ids are usually plain ASCII, which skips JSON.stringify. */
const PLAIN = /^[A-Za-z0-9_.:~-]*$/;
export function jsonString(s: string): string {
  return PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}

/** A record's element of the JSON format's "records" array: its stored body verbatim. */
export function recordFragment(r: StoredRecord): string {
  return (
    '{"id":' +
    jsonString(r.id) +
    ',"seq":' +
    r.seq +
    ',"ts":' +
    r.ts +
    (r.cls === 'telemetry' ? ',"values":' : ',"event":') +
    r.body +
    '}'
  );
}

interface Group {
  readonly device: string;
  readonly cls: RecordClass;
  body: string;
  records: StoredRecord[];
  size: number;
  count: number;
  rowids: number[];
  firstRowid: number;
}

/**
 * Packs records into messages: per device and class, at most `maxRecords` records and
 * about `maxBytes` of payload each (a single larger record still gets its own message).
 */
export class PayloadBuilder {
  private readonly headCache = new Map<string, { head: string; topic: string }>();
  private readonly agentJson: string;
  private readonly siteJson: string;

  constructor(readonly opts: PayloadOptions) {
    this.agentJson = JSON.stringify(opts.agentId);
    this.siteJson = JSON.stringify(opts.site);
  }

  head(device: string, cls: RecordClass): { head: string; topic: string } {
    const key = cls + '\u0000' + device;
    let h = this.headCache.get(key);
    if (!h) {
      h = {
        head: `{"v":${PAYLOAD_VERSION},"agent":${this.agentJson},"site":${this.siteJson},"device":${JSON.stringify(device)}`,
        topic: recordTopic(this.opts.topicPrefix, this.opts.site, device, cls),
      };
      if (this.headCache.size > 10_000) this.headCache.clear();
      this.headCache.set(key, h);
    }
    return h;
  }

  /** Records must be in rowid order; messages come out ordered by their first rowid. */
  build(records: readonly StoredRecord[], replay: boolean): BuiltMessage[] {
    const grouper = new MessageGrouper(this, replay);
    // Other formats bound their messages by the JSON fragment's size too.
    for (const r of records) grouper.add(r.device, r.cls, r.rowid, recordFragment(r), r);
    return grouper.finish();
  }
}

/**
 * One build: records (or their ready JSON fragments, from the drain's reader) added in
 * rowid order, grouped per device and class into messages.
 */
export class MessageGrouper {
  /** The JSON format: add() needs no record, only its fragment (recordFragment). */
  readonly json: boolean;
  private readonly open = { telemetry: new Map<string, Group>(), event: new Map<string, Group>() };
  private readonly done: Array<{ first: number; msg: BuiltMessage }> = [];
  private readonly replayPart: string;

  constructor(
    private readonly builder: PayloadBuilder,
    private readonly replay: boolean,
  ) {
    this.json = (builder.opts.format ?? 'json') === 'json';
    this.replayPart = replay ? ',"replay":true' : '';
  }

  /** `fragment`: recordFragment of the record (JSON format); `record`: the record (other formats). */
  add(device: string, cls: RecordClass, rowid: number, fragment: string, record?: StoredRecord): void {
    const { maxRecords, maxBytes } = this.builder.opts;
    const open = this.open[cls];
    let g = open.get(device);
    if (g && (g.count >= maxRecords || g.size + fragment.length + 1 > maxBytes)) {
      this.close(g);
      g = undefined;
    }
    if (!g) {
      const h = this.builder.head(device, cls);
      g = {
        device,
        cls,
        body: this.json ? fragment : '',
        // Only the compact encoder needs the records; JSON keeps just the text.
        records: record && !this.json ? [record] : [],
        size: h.head.length + this.replayPart.length + 14 + fragment.length,
        count: 1,
        rowids: [rowid],
        firstRowid: rowid,
      };
      open.set(device, g);
    } else {
      if (this.json) g.body += ',' + fragment;
      else if (record) g.records.push(record);
      g.size += fragment.length + 1;
      g.count++;
      g.rowids.push(rowid);
    }
  }

  /** The messages, ordered by their first rowid. */
  finish(): BuiltMessage[] {
    for (const open of [this.open.telemetry, this.open.event]) {
      for (const g of open.values()) this.close(g);
      open.clear();
    }
    const done = this.done;
    if (done.length > 1) done.sort((a, b) => a.first - b.first);
    return done.map((d) => d.msg);
  }

  private close(g: Group): void {
    const { format = 'json', compression = 'none' } = this.builder.opts;
    const h = this.builder.head(g.device, g.cls);
    const text =
      format === 'json'
        ? h.head + this.replayPart + ',"records":[' + g.body + ']}'
        : encodeCompact(JSON.stringify(g.device), g.cls, g.records, this.replay);
    const wire =
      format === 'json' && compression === 'none' ? undefined : encodePayload(text, format, compression);
    this.done.push({
      first: g.firstRowid,
      msg: {
        topic: h.topic,
        payload: text,
        ...(wire && typeof wire.payload !== 'string' ? { bytes: wire.payload } : {}),
        ...(wire?.properties ? { properties: wire.properties } : {}),
        rowids: g.rowids,
        device: g.device,
        cls: g.cls,
        replay: this.replay,
      },
    });
  }
}
