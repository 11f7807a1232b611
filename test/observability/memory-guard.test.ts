import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import type { Logger } from '../../src/core/ports.js';
import { MemoryGuard, writeV8HeapSnapshot } from '../../src/observability/memory-guard.js';
import { tempDir } from '../helpers/tmp.js';

const MB = 1024 * 1024;

function recordingLogger(): { logger: Logger; entries: Array<{ level: string; obj: object; msg?: string }> } {
  const entries: Array<{ level: string; obj: object; msg?: string }> = [];
  const make = (): Logger => ({
    debug: (obj, msg) => void entries.push({ level: 'debug', obj, msg }),
    info: (obj, msg) => void entries.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => void entries.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => void entries.push({ level: 'error', obj, msg }),
    child: () => make(),
  });
  return { logger: make(), entries };
}

function setup(options: { snapshotDir?: string; snapshotMinIntervalMs?: number } = {}) {
  const clock = new ManualClock();
  const { logger, entries } = recordingLogger();
  let heap = 50 * MB;
  const written: string[] = [];
  const guard = new MemoryGuard(
    {
      heapLimitMb: 100,
      checkIntervalMs: 1000,
      snapshotDir: options.snapshotDir,
      snapshotMinIntervalMs: options.snapshotMinIntervalMs ?? 60_000,
    },
    {
      clock,
      logger,
      heapUsed: () => heap,
      writeSnapshot: (dir) => {
        const path = `${dir}/snap-${written.length}.heapsnapshot`;
        written.push(path);
        return path;
      },
    },
  );
  return { clock, guard, entries, written, setHeap: (mb: number) => void (heap = mb * MB) };
}

type Entry = { level: string; obj: object; msg?: string };
const warnings = (entries: Entry[]) => entries.filter((e) => e.level === 'warn' && !('path' in e.obj));

describe('MemoryGuard', () => {
  it('checks every interval and warns once per crossing', async () => {
    const { clock, guard, entries, setHeap } = setup();
    guard.start();
    await clock.advance(3000);
    assert.equal(guard.stats().lastHeapUsedBytes, 50 * MB);
    assert.equal(guard.stats().heapOverLimitTotal, 0);

    setHeap(150);
    await clock.advance(5000);
    assert.equal(guard.stats().heapOverLimitTotal, 1);
    assert.equal(guard.stats().overLimit, true);
    assert.equal(warnings(entries).length, 1, 'one warning for the whole crossing');
    assert.deepEqual(warnings(entries)[0]!.obj, { heapUsedMb: 150, heapLimitMb: 100 });

    setHeap(80);
    await clock.advance(1000);
    assert.equal(guard.stats().overLimit, false);
    assert.ok(entries.some((e) => e.level === 'info'));

    setHeap(120);
    await clock.advance(1000);
    assert.equal(guard.stats().heapOverLimitTotal, 2);
    assert.equal(warnings(entries).length, 2);
    guard.stop();
  });

  it('writes no snapshot without snapshotDir', async () => {
    const { clock, guard, written, setHeap } = setup();
    setHeap(200);
    guard.start();
    await clock.advance(5000);
    assert.equal(written.length, 0);
    assert.equal(guard.stats().snapshotsWritten, 0);
    guard.stop();
  });

  it('writes one snapshot per crossing, at most one per snapshotMinIntervalMs', async () => {
    const { clock, guard, written, setHeap } = setup({
      snapshotDir: '/snapshots',
      snapshotMinIntervalMs: 60_000,
    });
    guard.start();
    setHeap(150);
    await clock.advance(10_000);
    assert.deepEqual(written, ['/snapshots/snap-0.heapsnapshot']);

    // Down and up again within the minimum interval: counted, but no new snapshot yet.
    setHeap(50);
    await clock.advance(1000);
    setHeap(150);
    await clock.advance(1000);
    assert.equal(guard.stats().heapOverLimitTotal, 2);
    assert.equal(written.length, 1);

    // Still above the limit once the interval has passed: this crossing gets its snapshot…
    await clock.advance(60_000);
    assert.equal(written.length, 2);
    // …and only one, however long it stays high.
    await clock.advance(300_000);
    assert.equal(written.length, 2);
    assert.equal(guard.stats().snapshotsWritten, 2);
    assert.equal(guard.stats().lastSnapshotPath, '/snapshots/snap-1.heapsnapshot');
    guard.stop();
  });

  it('counts a failed snapshot and keeps running', async () => {
    const clock = new ManualClock();
    const { logger, entries } = recordingLogger();
    const guard = new MemoryGuard(
      { heapLimitMb: 1, checkIntervalMs: 1000, snapshotDir: '/nope', snapshotMinIntervalMs: 1000 },
      {
        clock,
        logger,
        heapUsed: () => 10 * MB,
        writeSnapshot: () => {
          throw new Error('disk full');
        },
      },
    );
    guard.start();
    await clock.advance(2000);
    assert.equal(guard.stats().snapshotFailures, 1);
    assert.equal(guard.stats().snapshotsWritten, 0);
    assert.ok(entries.some((e) => e.level === 'error'));
    guard.stop();
  });

  it('stop() cancels the timer; start() and stop() are idempotent', async () => {
    const { clock, guard } = setup();
    guard.start();
    guard.start();
    assert.equal(clock.pendingCount, 1);
    guard.stop();
    guard.stop();
    assert.equal(clock.pendingCount, 0);
    await clock.advance(10_000);
    assert.equal(guard.stats().lastHeapUsedBytes, null);
  });

  it(
    'writes a real V8 heap snapshot, mode 0600 in a 0700 directory: it holds secrets',
    { timeout: 20_000 },
    (t) => {
      const dir = tempDir();
      const umask = process.umask(0o022); // a usual umask: files would be 0644, world-readable
      try {
        const started = Date.now();
        const path = writeV8HeapSnapshot(`${dir.path}/snaps`);
        const took = Date.now() - started;
        assert.equal(process.umask(0o022), 0o022, 'the umask is restored');
        assert.equal(statSync(path).mode & 0o777, 0o600);
        assert.equal(statSync(`${dir.path}/snaps`).mode & 0o777, 0o700);
        assert.ok(existsSync(path));
        assert.ok(path.startsWith(`${dir.path}/snaps/edge-agent-`) && path.endsWith('.heapsnapshot'));
        assert.ok(statSync(path).size > 0);
        if (took > 2000) t.diagnostic(`heap snapshot took ${took} ms`);
      } finally {
        process.umask(umask);
        dir.remove();
      }
    },
  );
});
