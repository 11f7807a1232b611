/**
 * Tariff policy canonical bytes (spec §4): windows `start_minute u16 | end_minute u16 |
 * price_milli u32 | max_current_mA u32`, sorted by start; policy_hash = SM3(bytes).
 * Where the spec is silent (docs/cip22.md): minutes of the day, end exclusive,
 * 0 ≤ start < end ≤ 1440, windows must not overlap; a window across midnight is sent as two.
 */
import { sm3 } from '../../crypto/hash.js';

export interface TariffWindow {
  readonly startMinute: number;
  readonly endMinute: number;
  readonly priceMilli: number;
  readonly maxCurrentMa: number;
}

export const POLICY_WINDOW_LENGTH = 12;
export const MINUTES_PER_DAY = 1440;

/** Why `windows` (in the given order) is not a canonical policy, or undefined when it is. */
export function policyProblem(windows: readonly TariffWindow[]): string | undefined {
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i]!;
    const u32 = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
    if (
      !Number.isInteger(w.startMinute) ||
      !Number.isInteger(w.endMinute) ||
      w.startMinute < 0 ||
      w.startMinute >= w.endMinute ||
      w.endMinute > MINUTES_PER_DAY
    ) {
      return `window ${i}: needs 0 <= startMinute < endMinute <= ${MINUTES_PER_DAY}, got ${w.startMinute}..${w.endMinute}`;
    }
    if (!u32(w.priceMilli) || !u32(w.maxCurrentMa))
      return `window ${i}: priceMilli and maxCurrentMa must be u32`;
    if (i > 0 && windows[i - 1]!.endMinute > w.startMinute)
      return `window ${i}: overlaps or precedes window ${i - 1}`;
  }
  return undefined;
}

/** Canonical bytes: windows sorted by start; throws RangeError on an invalid policy. */
export function encodePolicy(windows: readonly TariffWindow[]): Buffer {
  const sorted = [...windows].sort((a, b) => a.startMinute - b.startMinute);
  const problem = policyProblem(sorted);
  if (problem) throw new RangeError(`tariff policy: ${problem}`);
  const out = Buffer.allocUnsafe(sorted.length * POLICY_WINDOW_LENGTH);
  sorted.forEach((w, i) => {
    const o = i * POLICY_WINDOW_LENGTH;
    out.writeUInt16BE(w.startMinute, o);
    out.writeUInt16BE(w.endMinute, o + 2);
    out.writeUInt32BE(w.priceMilli, o + 4);
    out.writeUInt32BE(w.maxCurrentMa, o + 8);
  });
  return out;
}

/** Windows of canonical bytes; returns a string describing the problem when the bytes are not canonical. */
export function decodePolicy(bytes: Buffer): TariffWindow[] | string {
  if (bytes.length % POLICY_WINDOW_LENGTH !== 0)
    return `length ${bytes.length} is not a multiple of ${POLICY_WINDOW_LENGTH}`;
  const windows: TariffWindow[] = [];
  for (let o = 0; o < bytes.length; o += POLICY_WINDOW_LENGTH) {
    windows.push({
      startMinute: bytes.readUInt16BE(o),
      endMinute: bytes.readUInt16BE(o + 2),
      priceMilli: bytes.readUInt32BE(o + 4),
      maxCurrentMa: bytes.readUInt32BE(o + 8),
    });
  }
  return policyProblem(windows) ?? windows;
}

export function policyHash(windows: readonly TariffWindow[]): Buffer {
  return sm3(encodePolicy(windows));
}
