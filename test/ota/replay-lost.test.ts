/**
 * The OTA replay guards when their file is lost (deleted by hand, or unreadable after a bad
 * write): before, a command accepted before the loss ran again when replayed within its
 * validity window (the guard came back empty). Now a guard re-created at T refuses every
 * command issued at or before T; commands issued after pass. Inline engine (state.json,
 * through the real command handler and the signed envelope) and the split's agent side
 * (commands.json).
 */
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { MemoryCommandChannel } from '../../src/core/command-channel.js';
import { silentLogger } from '../../src/core/ports.js';
import { OTA_COMMAND_TOPIC, OtaCommandHandler } from '../../src/ota/command.js';
import { OtaEngine, type ApplyRequest } from '../../src/ota/engine.js';
import { OtaRequester } from '../../src/ota/requester.js';
import { loadKeyring } from '../../src/ota/verify.js';
import { tempDir } from '../helpers/tmp.js';
import { factoryInstall, makeKey, testOtaConfig, type TestKey } from './helpers.js';

const NOW = 1_800_000_000_000;

function envelope(key: TestKey, id: string, issuedAt: number): string {
  const text = JSON.stringify({
    type: 'ota-apply',
    id,
    site: 'site-1',
    url: 'https://updates.example/edge-agent-1.1.0.tar.gz',
    issuedAt,
    expiresAt: issuedAt + 3_600_000,
  });
  const sig = sign(null, Buffer.from(text), key.privateKey).toString('base64');
  return JSON.stringify({ command: text, keyId: key.keyId, sig });
}

describe('OTA replay guard whose file is lost', () => {
  for (const loss of ['deleted', 'corrupt'] as const)
    it(`inline: a command accepted before state.json was ${loss} is refused when replayed`, async (t) => {
      const tmp = tempDir('edge-ota-lost-');
      t.after(tmp.remove);
      const key = makeKey(tmp.path);
      const config = testOtaConfig(tmp.path, key);
      factoryInstall(config, '1.0.0');
      const clock = new ManualClock(NOW - 60_000);
      const engine = new OtaEngine({ config, logger: silentLogger, clock });
      await engine.ensureGuard(); // the agent started a minute before the command was issued
      const applied: ApplyRequest[] = [];
      engine.apply = (request) => {
        applied.push(request);
        return Promise.resolve({ version: '1.1.0', from: '1.0.0', bytesFetched: 1 });
      };
      const channel = new MemoryCommandChannel('edge/site-1');
      const handler = new OtaCommandHandler({
        channel,
        engine,
        keyring: loadKeyring([key.pemFile]),
        site: 'site-1',
        agentId: 'agent-1',
        maxTtlMs: 86_400_000,
        clockSkewMs: 300_000,
        clock,
        logger: silentLogger,
      });
      handler.start();
      t.after(() => handler.stop());
      const send = async (payload: string): Promise<Record<string, unknown>> => {
        channel.inject(OTA_COMMAND_TOPIC, payload);
        await clock.advance(0);
        await handler.whenIdle();
        const progress = channel.published.filter((p) => p.topic.endsWith('/agent/ota/progress'));
        return JSON.parse(progress.at(-1)!.payload.toString()) as Record<string, unknown>;
      };
      await clock.advance(60_000);
      const first = envelope(key, 'cmd-lost-01', NOW - 1000);
      assert.equal((await send(first)).stage, 'accepted');
      assert.equal(applied.length, 1);

      const state = join(config.stateDir, 'state.json');
      if (loss === 'deleted') rmSync(state);
      else writeFileSync(state, '{"format":1,"step":');
      await clock.advance(5_000);
      const replay = await send(first);
      assert.equal(replay.stage, 'refused');
      assert.equal(replay.reason, 'replayed');
      assert.match(String(replay.message), /issued before the replay guard was re-created/);
      assert.equal(applied.length, 1, 'the replay did not run');

      const fresh = await send(envelope(key, 'cmd-lost-02', clock.now() + 1));
      assert.equal(fresh.stage, 'accepted', JSON.stringify(fresh));
      assert.equal(applied.length, 2, 'a command issued after the loss runs');
      const kept = JSON.parse(readFileSync(state, 'utf8')) as { seenSince?: number };
      assert.equal(kept.seenSince, NOW + 5_000, 'the re-created guard is written with its date');
    });

  it('split, agent side: commands.json deleted or corrupt refuses what was issued before', async (t) => {
    const tmp = tempDir('edge-ota-lost-split-');
    t.after(tmp.remove);
    const key = makeKey(tmp.path);
    const config = testOtaConfig(tmp.path, key, { mode: 'split' });
    const clock = new ManualClock(NOW);
    const requester = new OtaRequester({ config, logger: silentLogger, clock });
    await requester.ensureGuard();
    const file = join(config.dataDir, 'commands.json');
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { seen: [], since: NOW }, 'created at start');
    const doc = { id: 'cmd-split-01', issuedAt: NOW + 10, expiresAt: NOW + 3_600_000 };
    assert.equal(await requester.recordCommand(doc), true);
    assert.match(String(await requester.recordCommand(doc)), /already accepted/);
    for (const lose of [() => rmSync(file), () => writeFileSync(file, '[{"id":')]) {
      lose();
      await clock.advance(1_000);
      assert.match(
        String(await requester.recordCommand(doc)),
        /issued before the replay guard was re-created/,
      );
    }
    const later = { id: 'cmd-split-02', issuedAt: clock.now() + 1, expiresAt: NOW + 3_600_000 };
    assert.equal(await requester.recordCommand(later), true);
    // A list written by an older agent is still a guard (no date: its ids are known).
    writeFileSync(file, JSON.stringify([{ id: 'cmd-old', expiresAt: NOW + 3_600_000 }]));
    assert.match(
      String(
        await requester.recordCommand({ id: 'cmd-old', issuedAt: NOW + 2_000, expiresAt: NOW + 3_600_000 }),
      ),
      /already accepted/,
    );
  });
});
