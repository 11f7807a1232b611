/**
 * Review of issue 11 item 4: a late answer is no answer in time (it charges the breaker),
 * yet a poll whose values were all EDGE_ERR_MODBUS_LATE_ANSWER counted as the device
 * answering: a slave answering late showed online with no good value, and a slave whose
 * answers alternate between timeouts and late answers flapped offline/online.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { DevicePoller } from '../../src/core/poller.js';
import { silentLogger } from '../../src/core/ports.js';
import { badValue, goodValue, type AgentEvent, type TagValue } from '../../src/core/types.js';
import { FakeDriver } from './fake-driver.js';

/** Good until `late` is set; then every read times out or is answered late, alternately. */
class LateDriver extends FakeDriver {
  late = false;
  override async poll(tags: readonly string[]): Promise<readonly TagValue[]> {
    this.polled.push([...tags]);
    const code = this.polled.length % 2 === 0 ? 'EDGE_ERR_MODBUS_TIMEOUT' : 'EDGE_ERR_MODBUS_LATE_ANSWER';
    return tags.map((t) => (this.late ? badValue(t, code, 'late') : goodValue(t, this.polled.length)));
  }
}

test('late-answers-keep-offline: polls answered only late or not at all are one offline episode', async () => {
  const clock = new ManualClock(0);
  const driver = new LateDriver('m1', [{ name: 'a', intervalMs: 100 }]);
  const events: AgentEvent[] = [];
  const poller = new DevicePoller(driver, {
    clock,
    logger: silentLogger,
    random: () => 0.5,
    startBackoff: { initialMs: 1000, maxMs: 8000, multiplier: 2, jitter: 0 },
    offline: { afterFailedPolls: 2, afterMs: 0 },
    onReading: () => undefined,
    onEvent: (e) => events.push(e),
  });
  poller.start();
  await clock.advance(0);
  driver.late = true;
  await clock.advance(2000);
  await poller.stop();
  assert.deepEqual(
    events.map((e) => e.type),
    ['device-online', 'device-offline'],
  );
});
