/**
 * Where a process's RSS lives, for the mem bench (BENCH_MEM_DETAIL=1): /proc/self/smaps
 * grouped by what each mapping is, its threads (each thread that mallocs may own a glibc
 * arena), process.memoryUsage() and V8's heap spaces. Linux only; elsewhere the /proc parts
 * are empty.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

interface Mapping {
  readonly name: string;
  readonly perms: string;
  /** Virtual size, kB. */
  readonly size: number;
  /** Resident, kB. */
  rss: number;
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function mappings(pid: number | 'self'): Mapping[] {
  const out: Mapping[] = [];
  for (const line of read(`/proc/${pid}/smaps`).split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const size = (parseInt(head[2] ?? '0', 16) - parseInt(head[1] ?? '0', 16)) / 1024;
      out.push({ name: head[4] || '[anon]', perms: head[3] ?? '', size, rss: 0 });
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    const last = out.at(-1);
    if (rss && last) last.rss = Number(rss[1]);
  }
  return out;
}

/**
 * What a mapping most likely is, by its name and shape: glibc's per-thread arenas are 64 MiB
 * reservations (HEAP_MAX_SIZE), thread stacks 8 MiB, V8's pages 256 KiB chunks that the
 * kernel merges when adjacent (so the V8 and "other" rows are estimates; the V8 spaces line
 * is exact for the main isolate).
 */
function kind(m: Mapping, exe: string): string {
  if (m.name === exe || m.name.endsWith('/node'))
    return m.perms.includes('x') ? 'node binary text' : 'node binary data';
  if (m.name.startsWith('/'))
    return m.name.includes('.node') ? 'native addons (.node)' : 'shared libraries and files';
  if (m.name !== '[anon]') return m.name;
  if (m.perms === '---p') return 'reserved (no access)';
  if (m.size >= 60 * 1024 && m.size <= 64 * 1024) return 'anon 60-64 MiB (malloc arena heap)';
  if (m.size === 8 * 1024 || m.size === 8192 - 4) return 'anon 8 MiB (thread stack)';
  if (m.perms.includes('x')) return 'anon executable (V8 code)';
  if (m.size % 256 === 0 && m.size <= 1024) return 'anon 256 KiB-1 MiB (V8 pages)';
  return 'anon other';
}

/** RSS in kB by kind of mapping, largest first. */
export function rssByKind(pid: number | 'self' = 'self'): [string, number][] {
  let exe = '';
  try {
    exe = read(`/proc/${pid}/cmdline`).split('\0')[0] ?? '';
  } catch {
    /* unknown */
  }
  const groups = new Map<string, number>();
  for (const m of mappings(pid)) groups.set(kind(m, exe), (groups.get(kind(m, exe)) ?? 0) + m.rss);
  return [...groups].filter(([, kb]) => kb > 0).sort((a, b) => b[1] - a[1]);
}

/** RSS in kB by mapping name ('[anon]' for anonymous mappings), largest first. */
export function rssByMapping(pid: number | 'self' = 'self'): [string, number][] {
  const groups = new Map<string, number>();
  for (const m of mappings(pid)) groups.set(m.name, (groups.get(m.name) ?? 0) + m.rss);
  return [...groups].sort((a, b) => b[1] - a[1]);
}

/** Thread names with their counts ("node", "libuv-worker", "V8 DefaultWorke", ...). */
export function threads(pid: number | 'self' = 'self'): string {
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return '';
  }
  const names = new Map<string, number>();
  for (const t of tids) {
    const name = read(`/proc/${pid}/task/${t}/comm`).trim();
    names.set(name, (names.get(name) ?? 0) + 1);
  }
  return `${tids.length} threads: ${[...names].map(([n, c]) => `${n} ×${c}`).join(', ')}`;
}

/** smaps_rollup's totals: Rss, Anonymous, file-backed. */
function rollup(pid: number | 'self'): string {
  const text = read(`/proc/${pid}/smaps_rollup`);
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  const rss = kb('Rss');
  const anon = kb('Anonymous');
  return `rollup: Rss ${(rss / 1024).toFixed(1)} MiB = anonymous ${(anon / 1024).toFixed(1)} + file-backed ${((rss - anon) / 1024).toFixed(1)} MiB`;
}

/** A few lines: memoryUsage, the V8 spaces' used/committed, threads, RSS by kind of mapping. */
export function memoryDetail(): string {
  const mb = (n: number): string => (n / 1e6).toFixed(1);
  const m = process.memoryUsage();
  const lines = [
    `rss ${mb(m.rss)} heapTotal ${mb(m.heapTotal)} heapUsed ${mb(m.heapUsed)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)} MB`,
    'v8 spaces (used/committed MB): ' +
      getHeapSpaceStatistics()
        .map((s) => `${s.space_name} ${mb(s.space_used_size)}/${mb(s.physical_space_size)}`)
        .join(', '),
    rollup('self'),
    threads('self'),
    ...rssByKind('self').map(([name, kb]) => `  ${(kb / 1024).toFixed(1).padStart(6)} MiB ${name}`),
    '  largest mappings:',
    ...rssByMapping('self')
      .slice(0, 6)
      .map(([name, kb]) => `  ${(kb / 1024).toFixed(1).padStart(6)} MiB ${name}`),
  ];
  return lines.join('\n');
}
