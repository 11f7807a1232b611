/**
 * The CIP-22 command router's admission: retained and stale pile commands are refused
 * with a result naming why; an id is claimed once, a resend while it runs is answered by
 * its one result, a resend afterwards gets the stored result (issue 12 item 6).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommandRouter } from '../../src/cip22/gateway/commands.js';
import type { Effect, PileMachine } from '../../src/cip22/state/machine.js';
import { MemoryCommandChannel } from '../../src/core/command-channel.js';
import { DEFAULT_FRESHNESS, MemoryCommandLedger } from '../../src/core/command-guard.js';
import { MAX_ID_LENGTH } from '../../src/core/command-result.js';
import { silentLogger } from '../../src/core/ports.js';

const NOW = 1_700_000_000_000;

function setup() {
  const claimed: string[] = [];
  const ledger = new MemoryCommandLedger();
  const claim = ledger.claim.bind(ledger);
  ledger.claim = (key, now) => (claimed.push(key), claim(key, now));
  const channel = new MemoryCommandChannel('edge/site');
  const requests: string[] = [];
  const machine = {
    request: (id: string): Effect[] => {
      requests.push(id);
      return [];
    },
  } as unknown as PileMachine;
  const hooks = {
    machine: () => machine,
    apply: (pile: string, effects: Effect[]) => router.publish(pile, effects),
    log: silentLogger,
    now: () => NOW,
  };
  const router: CommandRouter = new CommandRouter(channel, ['start', 'stop'], hooks, {
    ledger,
    policy: DEFAULT_FRESHNESS,
    maxPayloadBytes: 65_536,
  });
  router.watch('p1');
  const results = (): Array<{ id: string; ok: boolean; error?: string }> =>
    channel.published.map((p) => JSON.parse(p.payload.toString()) as { id: string; ok: boolean });
  const finish = (id: string): void =>
    router.publish('p1', [{ kind: 'result', requestId: id, command: 'start', ok: true, result: 0 }]);
  return { channel, router, requests, results, finish, claimed };
}

const cmd = (body: Record<string, unknown>): string => JSON.stringify({ command: 'start', ...body });

describe('CIP-22 pile command admission', () => {
  it('refuses retained, stale, undated and oversized commands without touching the pile', () => {
    const s = setup();
    s.channel.inject('p1/cmd', cmd({ id: 'a', ts: NOW }), { retained: true });
    s.channel.inject('p1/cmd', cmd({ id: 'b', ts: NOW - 3_600_000 }));
    s.channel.inject('p1/cmd', cmd({ id: 'c' }));
    s.channel.inject('p1/cmd', cmd({ id: 'd', pad: 'x'.repeat(70_000), ts: NOW }));
    assert.deepEqual(s.requests, []);
    const errors = s.results().map((r) => `${r.id}:${r.error?.split(':')[0]}`);
    assert.deepEqual(errors, ['a:retained', 'b:expired', 'c:no-expiry']);
    assert.deepEqual(s.router.refusals(), { retained: 1, expired: 1, 'no-expiry': 1, oversized: 1 });
  });

  it('accepts an MQTT 5 expiry instead of ts', () => {
    const s = setup();
    s.channel.inject('p1/cmd', cmd({ id: 'e' }), { expiryIntervalSec: 30 });
    assert.deepEqual(s.requests, ['e']);
  });

  it('runs an id once: a resend while running waits for the one result, a later one gets it again', () => {
    const s = setup();
    s.channel.inject('p1/cmd', cmd({ id: 'x', ts: NOW }));
    s.channel.inject('p1/cmd', cmd({ id: 'x', ts: NOW }));
    assert.deepEqual(s.requests, ['x']);
    assert.equal(s.results().length, 0, 'no refusal published for the running one');
    s.finish('x');
    s.channel.inject('p1/cmd', cmd({ id: 'x', ts: NOW }));
    assert.deepEqual(s.requests, ['x']);
    assert.deepEqual(
      s.results().map((r) => `${r.id}:${r.ok}`),
      ['x:true', 'x:true'],
    );
    assert.equal(s.router.refusals().duplicate, 2);
  });

  it('a pile command id over 128 characters is refused before the ledger keeps it', () => {
    // Tag writes bound ids; pile ids were any length up to maxPayloadBytes, each stored in
    // the durable ledger: maxSeenIds (100 000) × 64 KiB is gigabytes on the SD card.
    const s = setup();
    s.channel.inject('p1/cmd', cmd({ id: 'y'.repeat(60_000), ts: NOW }));
    s.channel.inject('p1/cmd', cmd({ id: 'z'.repeat(MAX_ID_LENGTH), ts: NOW }));
    assert.deepEqual(s.requests, ['z'.repeat(MAX_ID_LENGTH)]);
    assert.ok(
      s.claimed.every((k) => k.length < 200),
      'no long id claimed',
    );
    const refused = s.results().at(0);
    assert.match(refused?.error ?? '', /^bad-request: id over 128 characters/);
    assert.equal(refused?.id, '', 'the long id is not echoed back');
  });
});
