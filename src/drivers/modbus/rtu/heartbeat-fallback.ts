/**
 * The fallback search of a DTU stream transport (stream-transport.ts): when the
 * heartbeat filter removed or held bytes during a transaction and the filtered stream
 * holds no response, the expected frame may carry heartbeat-like bytes in its data.
 * The raw bytes since the request are scanned as they are; then, when they hold the
 * heartbeat pattern 2 to 8 times, each proper, non-empty subset of those occurrences is
 * removed in turn. Pure: the caller counts the outcome.
 */
import { answerStart, scanForResponse, toFrame, type Expectation, type RtuFrame } from './frame.js';

export interface HeartbeatFallbackMatch {
  readonly frame: RtuFrame;
  /** `raw`: found in the raw bytes as they are; `subset`: after removing some occurrences. */
  readonly via: 'raw' | 'subset';
  /** Heartbeat occurrences that turned out to be data of the frame. */
  readonly dataOccurrences: number;
  /** Bytes after the frame that may be another answer (heartbeats aside): a late answer glued on. */
  readonly trailing: number;
}

export function findFrameAmongHeartbeats(
  buf: Buffer,
  e: Expectation,
  hb: Buffer,
): HeartbeatFallbackMatch | undefined {
  const direct = scanForResponse(buf, e);
  if (direct.found) {
    return {
      frame: toFrame(Buffer.from(buf.subarray(direct.start, direct.end))),
      via: 'raw',
      dataOccurrences: occurrences(buf.subarray(direct.start, direct.end), hb),
      trailing: dataAfter(buf.subarray(direct.end), hb, e),
    };
  }
  const pos: number[] = [];
  for (let i = buf.indexOf(hb); i >= 0; i = buf.indexOf(hb, i + hb.length)) {
    pos.push(i);
    if (pos.length > 8) return undefined;
  }
  if (pos.length < 2) return undefined; // 0 or 1: the raw and the filtered scans cover it
  const full = (1 << pos.length) - 1;
  for (let mask = 1; mask < full; mask++) {
    const parts: Buffer[] = [];
    let from = 0;
    pos.forEach((at, k) => {
      if (!(mask & (1 << k))) return;
      parts.push(buf.subarray(from, at));
      from = at + hb.length;
    });
    parts.push(buf.subarray(from));
    const candidate = Buffer.concat(parts);
    const scan = scanForResponse(candidate, e);
    if (scan.found) {
      // Occurrences this mask kept were data, not heartbeats.
      let kept = 0;
      for (let k = 0; k < pos.length; k++) if (!(mask & (1 << k))) kept++;
      return {
        frame: toFrame(Buffer.from(candidate.subarray(scan.start, scan.end))),
        via: 'subset',
        dataOccurrences: kept,
        trailing: dataAfter(candidate.subarray(scan.end), hb, e),
      };
    }
  }
  return undefined;
}

/** Non-overlapping occurrences of `pattern` in `buf`, left to right (as the filter finds them). */
function occurrences(buf: Buffer, pattern: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(pattern); i >= 0; i = buf.indexOf(pattern, i + pattern.length)) n++;
  return n;
}

/** Bytes after a frame found in the raw stream that may be another answer (heartbeats aside). */
function dataAfter(tail: Buffer, heartbeat: Buffer, e: Expectation): number {
  const from = answerStart(tail, e.unit, e.fn);
  if (from < 0) return 0;
  const rest = tail.subarray(from);
  return Math.max(0, rest.length - occurrences(rest, heartbeat) * heartbeat.length);
}
