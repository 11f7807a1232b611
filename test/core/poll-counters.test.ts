/**
 * Case poll-errors-count-polls-not-values (issue 11 item 5): edge_poll_errors_total
 * counted bad values, not failed polls (6,834 for 493 polls of a dead slave). Now
 * errorsByCode counts each poll once per code, and badValuesByCode counts the values;
 * both reach /metrics under the names docs/observability.md gives.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { DevicePoller } from '../../src/core/poller.js';
import { buildAgentSnapshot } from '../../src/observability/agent-snapshot.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { FakeDriver } from './fake-driver.js';
import { snapshotParts } from '../helpers/snapshot.js';

it('poll-errors-count-polls-not-values: a dead slave with 14 tags, 5 polls', async () => {
  const clock = new ManualClock(0);
  const tags = Array.from({ length: 14 }, (_, i) => ({ name: `t${i}`, intervalMs: 100 }));
  const driver = new FakeDriver('meter', tags);
  driver.down = true;
  const poller = new DevicePoller(driver, {
    clock,
    logger: silentLogger,
    random: () => 0.5,
    startBackoff: { initialMs: 1000, maxMs: 8000, multiplier: 2, jitter: 0 },
    onReading: () => undefined,
    onEvent: () => undefined,
  });
  poller.start();
  await clock.advance(400);
  await poller.stop();
  const s = poller.stats();
  assert.equal(s.polls, 5);
  assert.equal(s.pollErrors, 5);
  assert.deepEqual(s.errorsByCode, { EDGE_ERR_MODBUS_TIMEOUT: 5 });
  assert.deepEqual(s.badValuesByCode, { EDGE_ERR_MODBUS_TIMEOUT: 70 });
  const metrics = createMetrics(() =>
    buildAgentSnapshot(snapshotParts({ devices: [{ driver: 'modbus', poller }] })),
  );
  const text = await metrics.metrics();
  assert.match(text, /^edge_poll_errors_total\{device="meter",code="EDGE_ERR_MODBUS_TIMEOUT"\} 5$/m);
  assert.match(text, /^edge_bad_values_total\{device="meter",code="EDGE_ERR_MODBUS_TIMEOUT"\} 70$/m);
  assert.match(text, /^edge_polls_total\{device="meter"\} 5$/m);
});
