import type { Logger } from '../../src/core/ports.js';

export interface LogLine {
  readonly level: string;
  readonly obj: Record<string, unknown>;
  readonly msg: string | undefined;
}

/** A logger that records every line; children share the record and add their bindings. */
export function captureLogger(
  lines: LogLine[] = [],
  bindings: Record<string, unknown> = {},
): Logger & { lines: LogLine[]; text(): string } {
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
    text: () => lines.map((l) => `${l.level} ${l.msg ?? ''} ${JSON.stringify(l.obj)}`).join('\n'),
  };
}
