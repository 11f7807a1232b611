import assert from 'node:assert/strict';
import { fdatasyncSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { storeSchema } from '../../src/config/sections/store.js';
import { CommitPace, RATE_WINDOW_MS } from '../../src/store/sqlite-commit-pace.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { tempDir } from '../helpers/tmp.js';
import { telemetry } from './outbox-contract.js';

/** Feeds `perS` records a second (`durable` or not) into `pace` for `ms`; returns the last interval. */
function feed(pace: CommitPace, from: number, ms: number, perS: number, durable = true): number {
  let interval = pace.interval(from, durable);
  for (let t = from + 10; t <= from + ms; t += 10) {
    pace.arrived(perS / 100, durable);
    interval = pace.interval(t, durable);
  }
  return interval;
}

describe('commit pace (spacing of the adaptive group commit)', () => {
  it('commit-pace-slow: up to 500 records/s (50 piles in a tight loop) the spacing stays minIntervalMs', () => {
    const pace = new CommitPace(4, 20, 0);
    assert.equal(feed(pace, 0, 1000, 50), 4);
    assert.equal(feed(pace, 1000, 1000, 500), 4);
  });

  it('commit-pace-heavy: 1,000 records/s space commits 20 ms apart; 5,000/s stop at maxIntervalMs', () => {
    const pace = new CommitPace(4, 25, 0);
    assert.equal(feed(pace, 0, 1000, 750), 10);
    assert.equal(feed(pace, 1000, 1000, 1000), 20);
    assert.equal(feed(pace, 2000, 1000, 5000), 25);
  });

  it('commit-pace-telemetry: telemetry alone spaces its own commits; beside durable appends only theirs count', () => {
    const pace = new CommitPace(4, 20, 0);
    assert.equal(feed(pace, 0, 1000, 5000, false), 20, '5,000 telemetry records/s alone');
    assert.equal(pace.interval(1000, true), 4, 'a frame waiting for its ACK beside them');
    let t = 1000;
    for (; t < 2000; t += 10) {
      pace.arrived(50, false);
      pace.arrived(0.5, true);
      pace.interval(t + 10, false);
    }
    assert.equal(pace.interval(t, false), 4, 'beside 50 frames/s, between frames too');
  });

  it('commit-pace-pause: after a pause the measured rate falls and the spacing is minIntervalMs again', () => {
    const pace = new CommitPace(4, 20, 0);
    assert.equal(feed(pace, 0, 1000, 1000), 20);
    pace.arrived(1, true);
    assert.equal(pace.interval(1000 + 5 * RATE_WINDOW_MS, true), 4);
  });

  it('commit-pace-off: maxIntervalMs 0 keeps the spacing at minIntervalMs', () => {
    const pace = new CommitPace(4, 0, 0);
    assert.equal(feed(pace, 0, 1000, 5000), 4);
  });
});

describe('SqliteOutbox group commit under a steady stream', () => {
  let dir: { path: string; remove(): void };
  let clock: ManualClock;
  let outbox: SqliteOutbox;

  beforeEach(() => {
    dir = tempDir('commit-pace-');
    clock = new ManualClock();
    outbox = SqliteOutbox.open(storeSchema.parse({ path: join(dir.path, 'outbox.db') }), {
      clock,
      logger: silentLogger,
      fdatasync: fdatasyncSync,
    });
  });
  afterEach(async () => {
    await outbox.close();
    dir.remove();
  });

  /** `perMs` durable appends every `everyMs` for `ms`; commits and the worst append → durable latency (clock ms) of the second half. */
  async function stream(
    ms: number,
    everyMs: number,
    perMs: number,
  ): Promise<{ commits: number; worst: number }> {
    let commits = 0;
    let worst = 0;
    let measuring = false;
    outbox.onCommit(() => void (measuring && commits++));
    const done: Promise<unknown>[] = [];
    for (let t = 0; t < ms; t += everyMs) {
      measuring = t >= ms / 2;
      for (let k = 0; k < perMs; k++) {
        const at = clock.monotonic();
        const track = measuring;
        done.push(
          outbox.appendDurable(telemetry(`pile-${k}`, t)).then(() => {
            if (track) worst = Math.max(worst, clock.monotonic() - at);
          }),
        );
      }
      await clock.advance(everyMs);
    }
    await clock.advance(100);
    assert.equal((await Promise.all(done)).length, (ms / everyMs) * perMs, 'every append is durable');
    return { commits, worst };
  }

  it('commit-pace-store-1000: 1,000 records/s commit about every 20 ms (not every 4 ms), none waits longer than 20 ms', async () => {
    const { commits, worst } = await stream(2000, 1, 1);
    // 1 s measured: ~48 commits at 20 ms + the commit itself; at the 4 ms spacing ~200.
    assert.ok(commits >= 40 && commits <= 60, `commits in 1 s: ${commits}`);
    assert.ok(worst <= 20, `worst latency ${worst} ms`);
  });

  it('commit-pace-store-50: 50 records/s (50 piles at 1 Hz) commit each at the end of its turn', async () => {
    const { commits, worst } = await stream(2000, 20, 1);
    assert.equal(commits, 50);
    assert.equal(worst, 0);
  });

  it('commit-pace-store-busy: 50 frames/s beside 5,000 telemetry records/s wait no more than minIntervalMs', async () => {
    let t = 0;
    const worst: number[] = [];
    const done: Promise<unknown>[] = [];
    for (; t < 2000; t++) {
      if (t % 10 === 0) for (let k = 0; k < 50; k++) outbox.append(telemetry(`dev-${k}`, t));
      if (t % 20 === 5) {
        const at = clock.monotonic();
        const track = t >= 1000;
        done.push(
          outbox
            .appendDurable(telemetry('pile-1', t))
            .then(() => track && worst.push(clock.monotonic() - at)),
        );
      }
      await clock.advance(1);
    }
    await clock.advance(100);
    await Promise.all(done);
    assert.equal(worst.length, 50);
    assert.ok(Math.max(...worst) <= 4, `worst ${Math.max(...worst)} ms`);
  });

  it('commit-pace-store-telemetry: 5,000 telemetry records/s alone commit every 20 ms, not every 4 ms', async () => {
    let commits = 0;
    const start = clock.monotonic();
    outbox.onCommit(() => void (clock.monotonic() >= start + 1000 && commits++));
    for (let t = 0; t < 2000; t += 2) {
      for (let k = 0; k < 10; k++) outbox.append(telemetry(`dev-${k}`, t));
      await clock.advance(2);
    }
    assert.ok(commits >= 40 && commits <= 60, `commits in 1 s: ${commits}`);
  });
});
