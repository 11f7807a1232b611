/** A DevicePoller on a ManualClock that collects its readings and events, and its /metrics text. */
import type { Clock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { DevicePoller, type PollerDeps } from '../../src/core/poller.js';
import type { AgentEvent, Reading } from '../../src/core/types.js';
import { buildAgentSnapshot } from '../../src/observability/agent-snapshot.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { FakeDriver } from './fake-driver.js';
import { snapshotParts } from '../helpers/snapshot.js';

export function harness(
  driver: FakeDriver,
  clock: Clock,
  extra: Pick<PollerDeps, 'offline' | 'report'> = {},
) {
  const readings: Reading[] = [];
  const events: AgentEvent[] = [];
  const poller = new DevicePoller(driver, {
    clock,
    logger: silentLogger,
    random: () => 0.5,
    startBackoff: { initialMs: 1000, maxMs: 8000, multiplier: 2, jitter: 0 },
    ...extra,
    onReading: (r) => readings.push(r),
    onEvent: (e) => events.push(e),
  });
  return { poller, readings, events };
}

/** The /metrics text of an agent with this one poller and nothing else. */
export async function pollerMetrics(poller: DevicePoller): Promise<string> {
  const metrics = createMetrics(() =>
    buildAgentSnapshot(snapshotParts({ devices: [{ driver: 'modbus', poller }] })),
  );
  return metrics.metrics();
}
