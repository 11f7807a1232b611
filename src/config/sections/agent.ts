import { z } from 'zod';
import { topicSegment } from '../../config-kit/common.js';

/** When a device is declared offline (the `device-offline` event); online needs one good poll. */
export const offlineSchema = z.strictObject({
  afterFailedPolls: z
    .number()
    .int()
    .min(1)
    .default(3)
    .describe('Offline after this many polls in a row got no answer (link-down codes)'),
  afterMs: z
    .number()
    .int()
    .min(0)
    .default(30_000)
    .describe('Or offline once such a run of failed polls has lasted this long (0: the count alone decides)'),
});

export const agentSchema = z.strictObject({
  id: topicSegment.default('edge-agent').describe('This agent, used in MQTT client id and status'),
  site: topicSegment.default('demo-site').describe('Station id: the {site} topic level'),
  shutdownTimeoutMs: z.number().int().positive().default(5000),
  pollSpread: z
    .boolean()
    .default(true)
    .describe(
      "Spread the devices' poll slots over their interval (a phase per device from its name, one of pollSpreadSlots) instead of starting every device's polls in the same slot: a station on a small CPU share (a Pi, a cgroup quota) otherwise meets one burst per second that outlasts its quota, and polls and ACKs wait. Off: slots at multiples of the interval (every device polls at the same moment)",
    ),
  pollSpreadSlots: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(10)
    .describe(
      'With pollSpread: how many distinct phases the devices get, evenly apart over the interval (10 at 1 s: one slot per 100 ms). Devices sharing a slot share a group commit and a forwarder batch; one phase per device (e.g. 1000) spreads the bursts finer at the cost of a commit and an MQTT message per device and poll',
    ),
  offline: offlineSchema
    .prefault({})
    .describe(
      'Debounce of device-offline events; no offline event before a device was first online (start-up)',
    ),
});
export type AgentConfig = z.infer<typeof agentSchema>;
