/**
 * Polling a failover device as the agent's scheduler does, against real peers.
 *
 * The pause between polls is pacing, not synchronisation: the failover policy decides on
 * windows of real time (windowMs, recoverAfterMs, on the clock the S7/OPC UA/Modbus
 * clients also time out on), and polls are what feed it samples and start its probes. No
 * assertion depends on the pause's length: each loop ends on the state it waits for (the
 * active source, a value) and fails, naming it, at a deadline.
 */
import type { TagValue } from '../../src/core/types.js';
import type { FailoverDriver } from '../../src/drivers/failover/driver.js';
import { waitFor } from '../helpers/wait.js';

/** The poll interval of the fixtures' devices. */
export const POLL_INTERVAL_MS = 50;

/** Polls `names` every POLL_INTERVAL_MS until `done` holds; returns that poll's values. */
export async function pollUntil(
  driver: FailoverDriver,
  names: readonly string[],
  what: string,
  done: (values: readonly TagValue[]) => boolean,
  timeoutMs = 20_000,
): Promise<readonly TagValue[]> {
  let last: readonly TagValue[] = [];
  await waitFor(
    what,
    async () => {
      last = await driver.poll(names);
      return done(last);
    },
    timeoutMs,
    POLL_INTERVAL_MS,
  );
  return last;
}
