/**
 * Turns readings and events into outbox bodies. The body is the JSON that the MQTT
 * payload embeds verbatim, so draining a backlog never re-parses it.
 * Telemetry body: {"<tag>":{"v":<value>,"q":"good"}, "<tag>":{"v":null,"q":"bad","code":"…","reason":"…"}},
 * plus "src":"secondary" on a value read from a failover device's secondary source.
 * Event body: {"type":"…","severity":"…","data":{…}}
 */
import type { AgentEvent, NewRecord, Reading, TagValue } from './types.js';

export function encodeValues(values: readonly TagValue[]): string {
  // No prototype: a tag named "__proto__" must be an own key, not the object's prototype.
  const out = Object.create(null) as Record<string, unknown>;
  for (const v of values) {
    const entry: Record<string, unknown> =
      v.quality === 'good'
        ? { v: v.value, q: 'good' }
        : { v: null, q: 'bad', code: v.code, reason: v.reason };
    if (v.source !== undefined) entry.src = v.source;
    out[v.tag] = entry;
  }
  return JSON.stringify(out);
}

export function readingToRecord(reading: Reading): NewRecord {
  return { device: reading.device, cls: 'telemetry', ts: reading.ts, body: encodeValues(reading.values) };
}

export function eventToRecord(event: AgentEvent): NewRecord {
  const body = JSON.stringify({ type: event.type, severity: event.severity, data: event.data ?? {} });
  return { device: event.device, cls: 'event', ts: event.ts, body };
}
