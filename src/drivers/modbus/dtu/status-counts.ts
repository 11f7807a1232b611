/**
 * Which DtuStatus fields are running counts (the others are states and times). The hub
 * carries a replaced or removed link's counts over to its successor of the same name so
 * that the totals it reports stay monotonic across hot reloads (core/carry.ts).
 */
import type { DtuStatus } from './link.js';

export const COUNT_FIELDS = [
  'bytesIn',
  'bytesOut',
  'heartbeats',
  'requests',
  'responses',
  'exceptions',
  'timeouts',
  'crcErrors',
  'garbageBytes',
  'echoes',
  'rawMatches',
  'subsetMatches',
  'linkDownFailures',
  'registrations',
  'replaced',
  'takeoverRefused',
  'rejectedSource',
  'disconnects',
  'livenessCloses',
  'keepalives',
  'keepaliveFailures',
  'connectFailures',
] as const satisfies readonly (keyof DtuStatus)[];

export function countsOf(status: DtuStatus): Record<string, number> {
  return Object.fromEntries(COUNT_FIELDS.map((f) => [f, status[f]]));
}
