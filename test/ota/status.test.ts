import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger, type OutboxSink } from '../../src/core/ports.js';
import type { NewRecord, StoredRecord } from '../../src/core/types.js';
import { configSchema } from '../../src/config/schema.js';
import { buildAgentSnapshot } from '../../src/observability/agent-snapshot.js';
import { OtaAgentSide } from '../../src/ota/agent-side.js';
import type { OtaStage } from '../../src/ota/control.js';
import { OtaEngine } from '../../src/ota/engine.js';
import type { TrialHealth } from '../../src/ota/trial.js';
import { buildOtaStatus } from '../../src/ota/status.js';
import { initialState } from '../../src/ota/state.js';
import { snapshotParts } from '../helpers/snapshot.js';
import { tempDir } from '../helpers/tmp.js';
import { buildBundle, factoryInstall, makeKey } from './helpers.js';

const sink: OutboxSink = {
  append: () => undefined,
  appendDurable: (record: NewRecord): Promise<StoredRecord> =>
    Promise.resolve({ ...record, rowid: 1, id: '1', seq: 1 }),
};

/** A temporary install: 1.0.0 factory-installed, 1.1.0 applied and booted (on trial). */
async function onTrial(t: { after(fn: () => void): void }) {
  const tmp = tempDir('edge-ota-status-');
  t.after(tmp.remove);
  const key = makeKey(tmp.path);
  const config = configSchema.parse({
    ota: {
      root: join(tmp.path, 'opt'),
      dataDir: join(tmp.path, 'data'),
      stateDir: join(tmp.path, 'state'),
      mode: 'inline',
      publicKeys: [key.pemFile],
      trialWindowSec: 60,
    },
  });
  factoryInstall(config.ota, '1.0.0');
  const clock = new ManualClock();
  const engine = new OtaEngine({ config: config.ota, logger: silentLogger, clock, restart: () => undefined });
  const bundle = (version: string, signWith?: ReturnType<typeof generateKeyPairSync>['privateKey']) =>
    buildBundle(tmp.path, { version, key, minPreviousVersion: '1.0.0', signWith });
  await engine.apply({ source: bundle('1.1.0'), origin: 'cli' });
  await engine.bootCheck();
  return { tmp, key, config, clock, engine, bundle };
}

/** The running agent's OTA side on that install, running `version` 1.1.0, started. */
async function agentSide(
  t: { after(fn: () => void): void },
  m: Awaited<ReturnType<typeof onTrial>>,
  health: () => TrialHealth = () => ({ ok: true, problems: [] }),
): Promise<OtaAgentSide> {
  const side = new OtaAgentSide(m.config, {
    outbox: sink,
    clock: m.clock,
    logger: silentLogger,
    health,
    version: '1.1.0',
    restart: () => undefined,
  });
  t.after(() => side.stop());
  await side.start();
  return side;
}

describe('the ota part of /status.json, from a real state directory', () => {
  it('shows the release on trial with its deadline, then the commit and the raised floor', async (t) => {
    const m = await onTrial(t);
    let healthy = false;
    const side = await agentSide(t, m, () => ({
      ok: healthy,
      problems: healthy ? [] : ['mqtt: not connected'],
    }));
    const onTrialStatus = side.status();
    assert.deepEqual(onTrialStatus, {
      known: true,
      problem: null,
      mode: 'inline',
      running: '1.1.0',
      phase: 'trial',
      trial: {
        version: '1.1.0',
        from: '1.0.0',
        since: m.clock.now(),
        boots: 1,
        judged: true,
        deadline: m.clock.now() + 60_000,
        verdict: null,
      },
      update: null,
      last: null,
      floor: null,
      readAt: m.clock.now(),
    });

    await m.clock.advance(2_000);
    healthy = true;
    await m.clock.advance(1_000);
    assert.equal(await side.trialOutcome, 'committed');
    await side.refreshStatus();
    const committed = side.status();
    assert.equal(committed.phase, 'idle');
    assert.equal(committed.trial, null);
    assert.deepEqual(committed.last, {
      outcome: 'committed',
      at: m.clock.now(),
      version: '1.1.0',
      from: '1.0.0',
      to: '1.1.0',
      reason: null,
      code: null,
    });
    assert.equal(committed.floor, '1.0.0', "the commit raised the floor to 1.1.0's minPreviousVersion");

    // The snapshot carries the same part.
    const snapshot = buildAgentSnapshot(snapshotParts({ ota: committed }));
    assert.equal(snapshot.ota?.last?.outcome, 'committed');
  });

  it('shows an update in progress by stage, a refused one with its code, and never the source or keys', async (t) => {
    const m = await onTrial(t);
    await m.engine.healthy('1.1.0');
    const side = await agentSide(t, m);

    const other = generateKeyPairSync('ed25519').privateKey;
    const forged = m.bundle('1.2.0', other);
    await assert.rejects(side.engine.apply({ source: forged, origin: 'cli' }), {
      code: 'EDGE_ERR_OTA_SIGNATURE',
    });
    await side.refreshStatus();
    const refused = side.status();
    assert.equal(refused.phase, 'idle');
    assert.equal(refused.last?.outcome, 'failed');
    assert.equal(refused.last?.code, 'EDGE_ERR_OTA_SIGNATURE');
    assert.equal(refused.update, null);

    const seen: (OtaStage | null)[] = [];
    const good = m.bundle('1.2.0');
    await side.engine.apply({
      source: good,
      origin: 'cli',
      onProgress: () => seen.push(side.status().update?.stage ?? null),
    });
    assert.ok(seen.includes('verify') && seen.includes('unpack'), `stages seen: ${seen.join(',')}`);
    assert.equal(seen.at(-1), null, 'done: no update in progress any more');
    await side.refreshStatus();
    const switched = side.status();
    assert.equal(switched.phase, 'trial');
    // This process runs 1.1.0: it does not judge 1.2.0's trial, so it knows no deadline.
    assert.deepEqual(
      { judged: switched.trial?.judged, deadline: switched.trial?.deadline },
      { judged: false, deadline: null },
    );

    const text = JSON.stringify(switched) + JSON.stringify(refused);
    for (const secret of [forged, good, m.key.pemFile, m.tmp.path, 'BEGIN'])
      assert.ok(!text.includes(secret), `status leaks ${secret}`);
  });

  it('says unknown when the state file cannot be read, and reads it again when older than 5 s', async (t) => {
    const m = await onTrial(t);
    writeFileSync(join(m.config.ota.stateDir, 'state.json'), '{ torn');
    const side = await agentSide(t, m);
    const torn = side.status();
    assert.equal(torn.known, false);
    assert.equal(torn.phase, null);
    assert.equal(torn.last, null);
    assert.match(torn.problem ?? '', /not JSON/);

    await m.engine.store.write(initialState());
    assert.equal(side.status().known, false, 'the cached read is shown until it is 5 s old');
    await m.clock.advance(5_000);
    side.status();
    await side.refreshStatus();
    assert.equal(side.status().known, true);
    assert.equal(side.status().phase, 'idle');
  });

  it('strips user info from any URL a failure message quotes', () => {
    const state = {
      ...initialState(),
      last: {
        outcome: 'failed' as const,
        at: 1,
        code: 'EDGE_ERR_OTA_DOWNLOAD',
        reason: 'GET https://ops:s3cret@updates.example/edge.tar.gz: 503',
      },
    };
    const doc = buildOtaStatus({ mode: 'split', running: '1.0.0', state, floor: null, readAt: 1 });
    assert.equal(doc.last?.reason, 'GET https://updates.example/edge.tar.gz: 503');
  });
});
