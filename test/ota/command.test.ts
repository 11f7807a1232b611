import assert from 'node:assert/strict';
import { sign, type KeyObject } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { MemoryCommandChannel } from '../../src/core/command-channel.js';
import { silentLogger, type OutboxSink } from '../../src/core/ports.js';
import type { NewRecord } from '../../src/core/types.js';
import { OTA_COMMAND_TOPIC, OtaCommandHandler } from '../../src/ota/command.js';
import { OtaEngine, type ApplyRequest } from '../../src/ota/engine.js';
import { initialState } from '../../src/ota/state.js';
import { loadKeyring } from '../../src/ota/verify.js';
import { tempDir } from '../helpers/tmp.js';
import { factoryInstall, makeKey, testOtaConfig, type TestKey } from './helpers.js';

/** An event record's body, as far as these tests read it. */
interface EventBody {
  readonly type?: string;
  readonly severity?: string;
  readonly data?: Record<string, unknown>;
}

const NOW = 1_700_000_000_000;

function envelope(
  key: TestKey | { keyId: string; privateKey: KeyObject },
  command: Record<string, unknown>,
): string {
  const text = JSON.stringify(command);
  return JSON.stringify({
    command: text,
    keyId: key.keyId,
    sig: sign(null, Buffer.from(text), key.privateKey).toString('base64'),
  });
}

function command(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'ota-apply',
    id: 'cmd-0001',
    site: 'site-1',
    url: 'https://updates.example/edge-agent-1.1.0.tar.gz',
    issuedAt: NOW - 1000,
    expiresAt: NOW + 3_600_000,
    ...overrides,
  };
}

function setup(t: { after(fn: () => void): void }) {
  const tmp = tempDir('edge-ota-cmd-');
  t.after(tmp.remove);
  const key = makeKey(tmp.path);
  const config = testOtaConfig(tmp.path, key);
  factoryInstall(config, '1.0.0');
  // An installed station: its replay guard (state.json) predates these commands.
  mkdirSync(config.stateDir, { recursive: true });
  writeFileSync(join(config.stateDir, 'state.json'), JSON.stringify(initialState()));
  const clock = new ManualClock(NOW);
  const engine = new OtaEngine({ config, logger: silentLogger, clock });
  // The download itself is tested elsewhere: record what the command asked for.
  const applied: ApplyRequest[] = [];
  engine.apply = async (request) => {
    applied.push(request);
    request.onProgress?.({ stage: 'download', done: 50, total: 100 });
    return { version: '1.1.0', from: '1.0.0', bytesFetched: 100 };
  };
  const channel = new MemoryCommandChannel('edge/site-1');
  const records: NewRecord[] = [];
  const outbox: OutboxSink = {
    append: (r) => void records.push(r),
    appendDurable: async () => Promise.reject(new Error('unused')),
  };
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
    outbox,
  });
  handler.start();
  t.after(() => handler.stop());
  const progress = () =>
    channel.published
      .filter((p) => p.topic === 'edge/site-1/agent/ota/progress')
      .map((p) => JSON.parse(p.payload.toString()) as Record<string, unknown>);
  const send = async (payload: string) => {
    channel.inject(OTA_COMMAND_TOPIC, payload);
    await clock.advance(0);
    await handler.whenIdle();
  };
  return { key, applied, progress, records, send, channel, engine, dir: tmp.path };
}

describe('signed agent/ota commands', () => {
  it('accepts a signed command: applies its URL, sha256 and force, reports progress on MQTT and in the outbox', async (t) => {
    const s = setup(t);
    const sha256 = 'a'.repeat(64);
    const signed = envelope(s.key, command({ sha256, force: true }));
    await s.send(signed);
    assert.equal(s.applied.length, 1);
    assert.deepEqual(
      { ...s.applied[0], onProgress: undefined },
      {
        source: 'https://updates.example/edge-agent-1.1.0.tar.gz',
        origin: 'command',
        force: true,
        sha256,
        commandId: 'cmd-0001',
        command: signed,
        onProgress: undefined,
      },
      'a forced apply carries the signed command: the privileged step re-verifies it',
    );
    assert.deepEqual(
      s.progress().map((p) => p.stage),
      ['accepted', 'download'],
    );
    assert.equal(s.progress()[1]!.pct, 50);
    assert.deepEqual(
      s.records.map((r) => (JSON.parse(r.body) as EventBody).type),
      ['ota-progress', 'ota-progress'],
    );
    assert.equal(s.channel.subscriptionCount(), 1);
  });

  const refusals: [string, (s: ReturnType<typeof setup>) => string, string][] = [
    ['unsigned', () => JSON.stringify(command()), 'unsigned'],
    ['not JSON', () => 'garbage', 'malformed'],
    ['signed by an unpinned key', (s) => envelope(makeKey(s.dir, 'x'), command()), 'unknown-key'],
    [
      'with a signature over other bytes',
      (s) =>
        JSON.stringify({
          ...JSON.parse(envelope(s.key, command())),
          command: JSON.stringify(command({ url: 'https://evil.example/x.tar.gz' })),
        }),
      'bad-signature',
    ],
    ['expired', (s) => envelope(s.key, command({ expiresAt: NOW - 1 })), 'expired'],
    [
      'issued in the future',
      (s) => envelope(s.key, command({ issuedAt: NOW + 3_600_000, expiresAt: NOW + 7_200_000 })),
      'future',
    ],
    ['valid for too long', (s) => envelope(s.key, command({ expiresAt: NOW + 30 * 86_400_000 })), 'window'],
    ['for another site', (s) => envelope(s.key, command({ site: 'site-2' })), 'wrong-site'],
    ['for another agent', (s) => envelope(s.key, command({ agent: 'agent-9' })), 'wrong-agent'],
    ['with an unknown field', (s) => envelope(s.key, command({ shell: 'rm -rf /' })), 'malformed'],
    // issue 12 item 8: force without a hash authorised whatever bytes the URL served.
    ['with force but no sha256', (s) => envelope(s.key, command({ force: true })), 'malformed'],
  ];
  for (const [name, payload, reason] of refusals) {
    it(`refuses a command ${name}`, async (t) => {
      const s = setup(t);
      await s.send(payload(s));
      assert.equal(s.applied.length, 0);
      const last = s.progress().at(-1);
      assert.equal(last?.stage, 'refused');
      assert.equal(last?.code, 'EDGE_ERR_OTA_COMMAND');
      assert.equal(last?.reason, reason);
      assert.equal((JSON.parse(s.records.at(-1)?.body ?? '{}') as EventBody).severity, 'warning');
    });
  }

  it('refuses a replay of an accepted command; the guard is kept in state.json across restarts', async (t) => {
    const s = setup(t);
    const payload = envelope(s.key, command());
    await s.send(payload);
    await s.send(payload);
    assert.equal(s.applied.length, 1);
    assert.equal(s.progress().at(-1)?.reason, 'replayed');
    assert.deepEqual((await s.engine.status()).state.seenCommands, [
      { id: 'cmd-0001', expiresAt: NOW + 3_600_000 },
    ]);
  });
});
