/** Shared pieces of the DTU socket tests. */
import type { TagValue } from '../../src/core/types.js';

export { captureLogger, type LogLine } from '../helpers/logger.js';

export const byTag = (vs: readonly TagValue[]): Record<string, unknown> =>
  Object.fromEntries(vs.map((v) => [v.tag, v.quality === 'good' ? v.value : v.code]));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
