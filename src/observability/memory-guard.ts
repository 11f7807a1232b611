/**
 * Watches the V8 heap. Every `checkIntervalMs` it reads the heap size; when it crosses
 * above `heapLimitMb` it logs one warning (per crossing), counts the crossing and, when
 * `snapshotDir` is set, writes one heap snapshot per crossing, never more often than
 * once per `snapshotMinIntervalMs` (writing a snapshot blocks the event loop and needs
 * memory about the heap's size, so it is rationed).
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { silentLogger, type Logger } from '../core/ports.js';
import type { MemoryStats } from './snapshot.js';

export interface MemoryGuardOptions {
  readonly heapLimitMb: number;
  readonly checkIntervalMs: number;
  /** Where heap snapshots go; absent: none is written. */
  readonly snapshotDir?: string | undefined;
  readonly snapshotMinIntervalMs: number;
}

export interface MemoryGuardDeps {
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Bytes of heap in use. Default: process.memoryUsage().heapUsed. */
  readonly heapUsed?: () => number;
  /** Writes a heap snapshot into `dir` and returns its path. Default: v8.writeHeapSnapshot. */
  readonly writeSnapshot?: (dir: string) => string;
}

export interface MemoryGuardStats extends MemoryStats {
  readonly overLimit: boolean;
  readonly lastHeapUsedBytes: number | null;
  readonly lastSnapshotPath: string | null;
  readonly snapshotFailures: number;
}

/**
 * The real snapshot port: `<dir>/edge-agent-<time>-<pid>.heapsnapshot`, mode 0600 in a
 * directory created 0700. A heap snapshot holds every string in the heap: the MQTT
 * password, private keys read from files, tokens. The umask is narrowed around the write
 * (synchronous: nothing else runs meanwhile) so the file is never readable by others, not
 * even between its creation and a chmod.
 */
export function writeV8HeapSnapshot(dir: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const previous = process.umask(0o077);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = writeHeapSnapshot(join(dir, `edge-agent-${stamp}-${process.pid}.heapsnapshot`));
    chmodSync(file, 0o600);
    return file;
  } finally {
    process.umask(previous);
  }
}

const MB = 1024 * 1024;

export class MemoryGuard {
  private readonly options: MemoryGuardOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly heapUsed: () => number;
  private readonly writeSnapshot: (dir: string) => string;

  private timer: TimerHandle | undefined;
  private running = false;
  private over = false;
  private snapshotThisCrossing = false;
  private lastSnapshotAt: number | null = null;
  private lastHeapUsed: number | null = null;
  private lastSnapshotPath: string | null = null;
  private overLimitTotal = 0;
  private snapshotsWritten = 0;
  private snapshotFailures = 0;

  constructor(options: MemoryGuardOptions, deps: MemoryGuardDeps = {}) {
    this.options = options;
    this.clock = deps.clock ?? systemClock;
    this.logger = (deps.logger ?? silentLogger).child({ component: 'memory-guard' });
    this.heapUsed = deps.heapUsed ?? (() => process.memoryUsage().heapUsed);
    this.writeSnapshot = deps.writeSnapshot ?? writeV8HeapSnapshot;
  }

  /** Starts the periodic check (first check after one interval). Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  /** Stops the periodic check. Safe to call twice. */
  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** One check, now. Called by the timer; public for on-demand use. */
  check(): void {
    let used: number;
    try {
      used = this.heapUsed();
    } catch (err) {
      this.logger.error({ err }, 'cannot read heap size');
      return;
    }
    this.lastHeapUsed = used;
    const limitBytes = this.options.heapLimitMb * MB;
    const over = used > limitBytes;

    if (over && !this.over) {
      this.over = true;
      this.snapshotThisCrossing = false;
      this.overLimitTotal++;
      this.logger.warn(
        { heapUsedMb: round(used / MB), heapLimitMb: this.options.heapLimitMb },
        'heap above the configured limit',
      );
    } else if (!over && this.over) {
      this.over = false;
      this.logger.info(
        { heapUsedMb: round(used / MB), heapLimitMb: this.options.heapLimitMb },
        'heap back under the limit',
      );
    }

    if (this.over && !this.snapshotThisCrossing) this.maybeSnapshot();
  }

  stats(): MemoryGuardStats {
    return {
      heapOverLimitTotal: this.overLimitTotal,
      snapshotsWritten: this.snapshotsWritten,
      overLimit: this.over,
      lastHeapUsedBytes: this.lastHeapUsed,
      lastSnapshotPath: this.lastSnapshotPath,
      snapshotFailures: this.snapshotFailures,
    };
  }

  private maybeSnapshot(): void {
    const dir = this.options.snapshotDir;
    if (dir === undefined) return;
    const now = this.clock.monotonic();
    if (this.lastSnapshotAt !== null && now - this.lastSnapshotAt < this.options.snapshotMinIntervalMs)
      return;
    this.lastSnapshotAt = now;
    this.snapshotThisCrossing = true;
    try {
      const path = this.writeSnapshot(dir);
      this.snapshotsWritten++;
      this.lastSnapshotPath = path;
      this.logger.warn({ path }, 'heap snapshot written');
    } catch (err) {
      this.snapshotFailures++;
      this.logger.error({ err, dir }, 'heap snapshot failed');
    }
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this.running) return;
      this.check();
      this.schedule();
    }, this.options.checkIntervalMs);
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
