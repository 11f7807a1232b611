/**
 * Where a process's RSS lives, for the mem bench (BENCH_MEM_DETAIL=1): /proc/self/smaps
 * grouped by mapping (V8 heap pages and malloc arenas are anonymous; the binary and shared
 * libraries are file-backed), and V8's heap spaces. Linux only; elsewhere it returns nothing.
 */
import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

/** RSS in kB by mapping name ('[anon]' for anonymous mappings), largest first. */
export function rssByMapping(): [string, number][] {
  let text: string;
  try {
    text = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return [];
  }
  const groups = new Map<string, number>();
  let name = '';
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      name = head[1] || '[anon]';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) groups.set(name, (groups.get(name) ?? 0) + Number(rss[1]));
  }
  return [...groups].sort((a, b) => b[1] - a[1]);
}

/** A few lines: memoryUsage, the V8 spaces' used/committed, the largest mappings. */
export function memoryDetail(): string {
  const mb = (n: number): string => (n / 1e6).toFixed(1);
  const m = process.memoryUsage();
  const lines = [
    `rss ${mb(m.rss)} heapTotal ${mb(m.heapTotal)} heapUsed ${mb(m.heapUsed)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)} MB`,
    'v8 spaces (used/committed MB): ' +
      getHeapSpaceStatistics()
        .map((s) => `${s.space_name} ${mb(s.space_used_size)}/${mb(s.physical_space_size)}`)
        .join(', '),
    ...rssByMapping()
      .slice(0, 12)
      .map(([name, kb]) => `  ${(kb / 1024).toFixed(1).padStart(6)} MiB ${name}`),
  ];
  return lines.join('\n');
}
