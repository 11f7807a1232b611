/**
 * Optional bounds on the value a command may write to a tag (`min`/`max`, in the tag's
 * engineering unit, i.e. after scale and offset). The driver checks them before any I/O,
 * so a command cannot drive a setpoint outside what the site allows, whatever the
 * register type would accept.
 */
import { z } from 'zod';
import type { WriteValue } from '../core/ports.js';

export const writeRangeFields = {
  min: z
    .number()
    .optional()
    .describe('Smallest value a command may write (engineering unit); writable numeric tags only'),
  max: z
    .number()
    .optional()
    .describe('Largest value a command may write (engineering unit); writable numeric tags only'),
};

export interface WriteRange {
  readonly min?: number | undefined;
  readonly max?: number | undefined;
}

/** Config issues of a tag's range: only on writable tags, min ≤ max. */
export function writeRangeIssues(
  tag: WriteRange & { readonly writable: boolean },
  numeric: boolean,
): Array<{ path: string[]; message: string }> {
  if (tag.min === undefined && tag.max === undefined) return [];
  const path = [tag.min !== undefined ? 'min' : 'max'];
  if (!tag.writable) return [{ path, message: 'min/max bound command writes: the tag must be writable' }];
  if (!numeric) return [{ path, message: 'min/max apply to numeric tags only' }];
  if (tag.min !== undefined && tag.max !== undefined && tag.min > tag.max)
    return [{ path: ['min'], message: `min ${tag.min} is greater than max ${tag.max}` }];
  return [];
}

/** Why `value` is outside the range, or undefined when it is inside (or not numeric). */
export function outOfRange(range: WriteRange, value: WriteValue): string | undefined {
  const values = Array.isArray(value) ? value : [value];
  for (const v of values) {
    if (typeof v !== 'number') continue;
    if (range.min !== undefined && !(v >= range.min)) return `${v} is below the configured min ${range.min}`;
    if (range.max !== undefined && !(v <= range.max)) return `${v} is above the configured max ${range.max}`;
  }
  return undefined;
}
