/** Shared pieces of the DTU socket tests. */
import type { Logger } from '../../src/core/ports.js';
import type { TagValue } from '../../src/core/types.js';

export interface LogLine {
  readonly level: string;
  readonly obj: Record<string, unknown>;
  readonly msg: string | undefined;
}

/** A logger that records every line (children share the record). */
export function captureLogger(lines: LogLine[] = [], bindings: Record<string, unknown> = {}): Logger & { lines: LogLine[] } {
  const at =
    (level: string) =>
    (obj: object, msg?: string): void =>
      void lines.push({ level, obj: { ...bindings, ...(obj as Record<string, unknown>) }, msg });
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (b) => captureLogger(lines, { ...bindings, ...b }),
  };
}

export const byTag = (vs: readonly TagValue[]): Record<string, unknown> =>
  Object.fromEntries(vs.map((v) => [v.tag, v.quality === 'good' ? v.value : v.code]));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
