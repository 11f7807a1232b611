/** The gateway's telemetry bodies and ACK payloads, built directly, equal what the generic encoders give. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type StatusMessage, ackPayload, encodeMessage } from '../../src/cip22/codec/index.js';
import { frameRecord } from '../../src/cip22/gateway/records.js';
import { encodeValues } from '../../src/core/record-codec.js';
import { goodValue, type TagValue } from '../../src/core/types.js';

function good(entries: [string, number | string | undefined][]): string {
  const values: TagValue[] = entries.flatMap(([tag, v]) => (v === undefined ? [] : [goodValue(tag, v)]));
  return encodeValues(values);
}

test('STATUS bodies equal encodeValues of the same good values, absent fields left out', () => {
  const cases: Omit<StatusMessage, 'type'>[] = [
    { msgSeq: 0, state: 0 },
    {
      msgSeq: 0xffffffff,
      state: 1,
      voltageMv: 48_123,
      currentMa: -2_000_000,
      energyWh: 9,
      temperature01C: -123,
      faultCode: 0,
    },
    { msgSeq: 7, state: 3, temperature01C: 1, faultCode: 65535 },
  ];
  for (const c of cases) {
    const body = frameRecord('p', 1, { type: 'STATUS', ...c }).body;
    const names = ['idle', 'charging', 'fault', 'upgrading'];
    assert.equal(
      body,
      good([
        ['msg_seq', c.msgSeq],
        ['state', names[c.state] ?? String(c.state)],
        ['voltage_mv', c.voltageMv],
        ['current_ma', c.currentMa],
        ['energy_wh', c.energyWh],
        ['temperature_c', c.temperature01C === undefined ? undefined : c.temperature01C / 10],
        ['fault_code', c.faultCode],
      ]),
    );
    assert.doesNotThrow(() => JSON.parse(body));
  }
});

test('BATT_TELEM bodies escape the battery id like JSON.stringify', () => {
  for (const batteryId of ['B-1', 'quote " backslash \\ ', 'line\u2028sep \u0001 ✓', '\ud800 lone']) {
    const digest = Buffer.alloc(32, 0xab);
    const body = frameRecord('p', 1, {
      type: 'BATT_TELEM',
      msgSeq: 3,
      batteryId,
      socPct: 50,
      bmsDigest: digest,
    }).body;
    assert.equal(
      body,
      good([
        ['msg_seq', 3],
        ['battery_id', batteryId],
        ['soc_pct', 50],
        ['soh_pct', undefined],
        ['cycles', undefined],
        ['bms_sm3', digest.toString('hex')],
      ]),
    );
  }
});

test('ackPayload is the payload encodeMessage gives for ACK; a non-u32 is refused', () => {
  for (const msgSeq of [0, 1, 255, 65_536, 0x7fffffff, 0xffffffff]) {
    assert.deepEqual(ackPayload(msgSeq), encodeMessage({ type: 'ACK', msgSeq }).payload);
  }
  for (const bad of [-1, 2 ** 32, 1.5, Number.NaN]) assert.throws(() => ackPayload(bad), RangeError);
});
