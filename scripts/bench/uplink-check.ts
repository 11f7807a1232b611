/**
 * The uplink bench's information check: what a consumer received, per device and tag,
 * walked against the true trace. At every poll the consumer's last received value of each
 * tag must be within the tag's deadband of the true value with the same quality and code,
 * and no tag may go more than maxPeriodMs without a report.
 */
import { policyForTag } from '../../src/core/report-filter.js';
import type { TagValue } from '../../src/core/types.js';
import type { Trace } from './uplink-trace.js';

/** Reports received, by `device\0tag`, in the order received. */
export type Seen = Map<string, Array<{ ts: number; value: TagValue }>>;

export function addReport(seen: Seen, device: string, tag: string, ts: number, value: TagValue): void {
  const key = `${device}\u0000${tag}`;
  let list = seen.get(key);
  if (!list) seen.set(key, (list = []));
  list.push({ ts, value });
}

export interface TraceCheck {
  /** Polls at which the consumer's value differed from the truth by the deadband or more, or in quality. */
  missed: number;
  /** Largest time without a report of one tag (ms), start and end of day included. */
  maxGapMs: number;
}

export function checkTrace(trace: Trace, seen: Seen): TraceCheck {
  let missed = 0;
  let maxGapMs = 0;
  const end = trace.t0 + trace.polls * trace.pollMs;
  for (const device of trace.devices) {
    const first = device.polls[0] ?? [];
    for (const { tag } of first) {
      const policy = policyForTag(device.report, tag);
      const abs = 'abs' in policy.deadband ? policy.deadband.abs : 0;
      const reports = [...(seen.get(`${device.name}\u0000${tag}`) ?? [])].sort((a, b) => a.ts - b.ts);
      let last = trace.t0;
      for (const r of reports) {
        maxGapMs = Math.max(maxGapMs, r.ts - last);
        last = r.ts;
      }
      maxGapMs = Math.max(maxGapMs, end - trace.pollMs - last);
      let k = -1;
      for (let p = 0; p < trace.polls; p++) {
        const ts = trace.t0 + p * trace.pollMs;
        while (k + 1 < reports.length && (reports[k + 1]?.ts ?? Infinity) <= ts) k++;
        const truth = device.polls[p]?.find((x) => x.tag === tag);
        const known = reports[k]?.value;
        if (!truth || !known || differs(truth, known, abs)) missed++;
      }
    }
  }
  return { missed, maxGapMs };
}

function differs(truth: TagValue, known: TagValue, abs: number): boolean {
  if (truth.quality !== known.quality) return true;
  if (truth.quality === 'bad' || known.quality === 'bad')
    return truth.quality === 'bad' && known.quality === 'bad' && truth.code !== known.code;
  if (typeof truth.value === 'number' && typeof known.value === 'number')
    return abs === 0 ? truth.value !== known.value : Math.abs(truth.value - known.value) >= abs;
  return truth.value !== known.value;
}

/** A value of the JSON formats (record-codec body entry) as a TagValue. */
export function fromStored(
  tag: string,
  x: { v: unknown; q: 'good' | 'bad'; code?: string; reason?: string },
): TagValue {
  return x.q === 'good'
    ? { tag, value: x.v as TagValue['value'], quality: 'good' }
    : { tag, value: null, quality: 'bad', code: x.code ?? '', reason: x.reason ?? '' };
}
