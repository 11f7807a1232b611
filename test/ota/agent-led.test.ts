import assert from 'node:assert/strict';
import { test } from 'node:test';
import { otaActive } from '../../src/ota/agent-side.js';

test('the LED shows OTA from the first download byte until the switch is done or failed', () => {
  assert.deepEqual((['download', 'verify', 'unpack', 'switch', 'done', 'failed'] as const).map(otaActive), [
    true,
    true,
    true,
    true,
    false,
    false,
  ]);
});
