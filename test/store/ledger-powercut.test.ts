/**
 * ledger-claim-survives-power-cut-with-normal-telemetry: the command ledger promises a
 * claim committed with synchronous=FULL before the command runs (at most once across a
 * power cut). With `store.synchronous.telemetry: normal` the connection was left in
 * NORMAL by the last telemetry commit, and the claim committed in it: a power cut right
 * after the claim lost it, and the redelivered command would run a second time. Real
 * power cut (ext4 shutdown on a loop device); skips without root or loop devices.
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

  it('ledger-claim-survives-power-cut-with-normal-telemetry', async () => {
    const dir = join(fs.mount, 'store');
    mkdirSync(dir);
    const path = join(dir, 'outbox.db');
    const config = storeSchema.parse({ path, synchronous: { telemetry: 'normal' } });
    const clock = new ManualClock();
    // The store exists and is synced, as on a box that has been running a while.
    await SqliteOutbox.open(config, { clock, logger: silentLogger }).close();
    execFileSync('sync', ['-f', fs.mount]);

    const r = spawnSync(process.execPath, [CHILD, path, fs.mount, 'cmd-1'], { encoding: 'utf8' });
    fs.remount();
    assert.equal(r.signal, 'SIGKILL', `child: ${r.stderr}`);
    assert.match(r.stdout, /claimed \{"fresh":true\}/);

    const box = SqliteOutbox.open(config, { clock, logger: silentLogger });
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
});
