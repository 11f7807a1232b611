/**
 * Promises to producers under `store.synchronous.telemetry: normal`, against a real power
 * cut (ext4 shutdown on a loop device); skips without root or loop devices.
 *
 * ledger-claim-survives-power-cut-with-normal-telemetry: the command ledger promises a
 * claim committed with synchronous=FULL before the command runs (at most once across a
 * power cut). With `store.synchronous.telemetry: normal` the connection was left in
 * NORMAL by the last telemetry commit, and the claim committed in it: a power cut right
 * after the claim lost it, and the redelivered command would run a second time.
 *
 * durable-telemetry-survives-power-cut-with-normal-telemetry: appendOnce (and
 * appendDurable) resolve when the record is stored, and the CIP-22 gateway ACKs a STATUS
 * frame (telemetry) on it, after which the pile forgets the frame. The batch committed
 * NORMAL because of its class: a power cut after the ACK lost the reading for good.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { storeSchema } from '../../src/config/sections/store.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { createLoopFs, powerCutSkip, type LoopFs } from '../helpers/powercut.js';

const CHILD = fileURLToPath(new URL('./fixtures/ledger-powercut-child.js', import.meta.url));

describe('command ledger under a real power cut', { skip: powerCutSkip() }, () => {
  let fs: LoopFs;
  before(() => {
    fs = createLoopFs(32);
  });
  after(() => fs.remove());

  let n = 0;
  const clock = new ManualClock();

  /** A synced store on the loop file system; the child's run on it, cut; the store reopened. */
  async function cutChild(mode: 'claim' | 'once', key: string, expected: RegExp): Promise<SqliteOutbox> {
    const dir = join(fs.mount, `store${++n}`);
    mkdirSync(dir);
    const config = storeSchema.parse({ path: join(dir, 'outbox.db'), synchronous: { telemetry: 'normal' } });
    // The store exists and is synced, as on a box that has been running a while.
    await SqliteOutbox.open(config, { clock, logger: silentLogger }).close();
    execFileSync('sync', ['-f', fs.mount]);
    const r = spawnSync(process.execPath, [CHILD, config.path, fs.mount, mode, key], { encoding: 'utf8' });
    fs.remount();
    assert.equal(r.signal, 'SIGKILL', `child: ${r.stderr}`);
    assert.match(r.stdout, expected);
    return SqliteOutbox.open(config, { clock, logger: silentLogger });
  }

  it('ledger-claim-survives-power-cut-with-normal-telemetry', async () => {
    const box = await cutChild('claim', 'cmd-1', /claimed \{"fresh":true\}/);
    try {
      const claim = box.commandLedger({ seenTtlMs: 3_600_000, maxKeys: 1000 }).claim('cmd-1', clock.now());
      assert.ok(
        claim !== 'full' && !claim.fresh,
        `claim of cmd-1 lost to the power cut: ${JSON.stringify(claim)}`,
      );
    } finally {
      await box.close();
    }
  });

  it('wal-sync-off-loop-survives-power-cut: what was resolved durable or readable before the cut is there after it', async () => {
    const dir = join(fs.mount, `store${++n}`);
    mkdirSync(dir);
    const config = storeSchema.parse({ path: join(dir, 'outbox.db') });
    await SqliteOutbox.open(config, { clock, logger: silentLogger }).close();
    execFileSync('sync', ['-f', fs.mount]);
    const r = spawnSync(process.execPath, [CHILD, config.path, fs.mount, 'stream', '-'], {
      encoding: 'utf8',
    });
    fs.remount();
    assert.equal(r.signal, 'SIGKILL', `child: ${r.stderr}`);
    const m = /resolved (\d+) readable (\d+) committed (\d+)/.exec(r.stdout);
    assert.ok(m, `child printed: ${r.stdout}`);
    const [resolved, readable, committed] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const box = SqliteOutbox.open(config, { clock, logger: silentLogger });
    try {
      const seqs = box.read(0, 1000, 1 << 20).map((row) => row.seq);
      assert.deepEqual(
        seqs,
        Array.from({ length: seqs.length }, (_, i) => i + 1),
        'contiguous',
      );
      assert.ok(seqs.length >= resolved, `resolved up to seq ${resolved}, ${seqs.length} survived`);
      assert.ok(box.lastRowid() >= readable, `readable up to rowid ${readable}, ${box.lastRowid()} survived`);
      assert.ok(
        committed > resolved,
        `the cut came with commits not yet synced (${committed} > ${resolved})`,
      );
    } finally {
      await box.close();
    }
  });

  it('durable-telemetry-survives-power-cut-with-normal-telemetry', async () => {
    const box = await cutChild('once', 'cip22/pile-1/7', /stored \w+-\d+/);
    try {
      assert.ok(box.seenOnce('cip22/pile-1/7'), 'the appendOnce key was lost to the power cut');
      const bodies = box.read(0, 10, 1 << 20).map((r) => r.body);
      assert.ok(bodies.includes('{"v":2}'), `the acknowledged reading was lost: ${JSON.stringify(bodies)}`);
    } finally {
      await box.close();
    }
  });
});
