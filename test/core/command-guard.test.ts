/** admit(): retained, freshness by ts/ttlMs and by MQTT 5 expiry, clock skew, field types. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_FRESHNESS, MemoryCommandLedger, admit } from '../../src/core/command-guard.js';

const NOW = 1_700_000_000_000;
const msg = (flags: { retained?: boolean; expiryIntervalSec?: number } = {}) => ({
  topic: 't',
  payload: Buffer.alloc(0),
  ...flags,
});
const reason = (body: Record<string, unknown>, flags = {}, policy = DEFAULT_FRESHNESS) =>
  admit(msg(flags), body, policy, NOW)?.reason;

describe('admit', () => {
  it('refuses retained messages whatever they carry', () => {
    assert.equal(reason({ ts: NOW }, { retained: true }), 'retained');
    assert.equal(
      admit(msg({ retained: true }), { ts: NOW }, DEFAULT_FRESHNESS, NOW)?.code,
      'EDGE_ERR_CMD_RETAINED',
    );
  });

  it('judges ts against min(ttlMs, maxAgeMs) plus the clock skew, both ways', () => {
    const { maxAgeMs, clockSkewMs } = DEFAULT_FRESHNESS;
    assert.equal(reason({ ts: NOW - maxAgeMs - clockSkewMs }), undefined);
    assert.equal(reason({ ts: NOW - maxAgeMs - clockSkewMs - 1 }), 'expired');
    assert.equal(reason({ ts: NOW - clockSkewMs - 1001, ttlMs: 1000 }), 'expired');
    assert.equal(reason({ ts: NOW - 1000, ttlMs: 10 * maxAgeMs }), undefined, 'ttlMs never extends');
    assert.equal(reason({ ts: NOW - maxAgeMs - clockSkewMs - 1, ttlMs: 10 * maxAgeMs }), 'expired');
    assert.equal(reason({ ts: NOW + clockSkewMs }), undefined);
    assert.equal(reason({ ts: NOW + clockSkewMs + 1 }), 'future');
  });

  it('accepts an MQTT 5 expiry up to maxAgeMs instead of ts; neither is refused unless allowed', () => {
    assert.equal(reason({}, { expiryIntervalSec: 120 }), undefined);
    assert.equal(reason({}, { expiryIntervalSec: 121 }), 'expired');
    assert.equal(reason({}), 'no-expiry');
    assert.equal(reason({}, {}, { ...DEFAULT_FRESHNESS, requireExpiry: false }), undefined);
  });

  it('refuses ts and ttlMs of the wrong type as malformed', () => {
    assert.equal(reason({ ts: '2024-01-01' }), 'malformed');
    assert.equal(reason({ ts: NOW, ttlMs: -1 }), 'malformed');
    assert.equal(reason({ ts: 1.5 }), 'malformed');
  });
});

describe('MemoryCommandLedger', () => {
  it('claims once, keeps the result, bounds its size', () => {
    const ledger = new MemoryCommandLedger(2, 10);
    assert.deepEqual(ledger.claim('a', 1), { fresh: true });
    ledger.settle('a', 'r');
    assert.deepEqual(ledger.claim('a', 2), { fresh: false, ts: 1, result: 'r' });
    ledger.claim('b', 3);
    assert.equal(ledger.claim('c', 4), 'full', 'a and b are still valid: neither is forgotten');
    assert.deepEqual(ledger.claim('c', 12), { fresh: true }, 'a is past its validity: dropped for room');
    assert.deepEqual(ledger.claim('a', 13), 'full', 'b and c are still valid');
  });
});
