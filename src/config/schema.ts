/** The whole configuration: one schema per section, composed; unknown keys rejected. */
import { z } from 'zod';
import { cip22Schema } from '../cip22/config.js';
import { ledSchema, watchdogSchema } from '../host/config.js';
import { deviceSchema, driverSectionChecks, driverSections } from '../drivers/schemas.js';
import { agentSchema } from './sections/agent.js';
import { commandsSchema } from './sections/commands.js';
import { mqttSchema } from './sections/mqtt.js';
import { httpSchema, logSchema, memorySchema } from './sections/observability.js';
import { otaSchema } from './sections/ota.js';
import { storeSchema } from './sections/store.js';

export const configSchema = z
  .strictObject({
    agent: agentSchema.prefault({}),
    store: storeSchema.prefault({}),
    mqtt: mqttSchema.prefault({}),
    http: httpSchema.prefault({}),
    log: logSchema.prefault({}),
    memory: memorySchema.prefault({}),
    watchdog: watchdogSchema
      .prefault({})
      .describe(
        'Liveness supervision: systemd WatchdogSec (WATCHDOG=1 only while the agent makes progress) or /dev/watchdog',
      ),
    led: ledSchema,
    commands: commandsSchema
      .prefault({})
      .describe('Device commands over MQTT ({device}/cmd): writes need an explicit allow'),
    ota: otaSchema.prefault({}),
    ...driverSections,
    devices: z.array(deviceSchema).default([]),
    cip22: cip22Schema
      .prefault({})
      .describe('CIP-22 charging-pile gateway (TLS 1.3 listener piles dial into)'),
  })
  .superRefine((config, ctx) => {
    const names = new Map<string, number>();
    config.devices.forEach((device, i) => {
      const first = names.get(device.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['devices', i, 'name'],
          message: `duplicate device name "${device.name}" (also devices[${first}])`,
        });
      } else names.set(device.name, i);
    });
    for (const issue of driverSectionChecks(config))
      ctx.addIssue({ code: 'custom', path: [...issue.path], message: issue.message });
  });

export type EdgeConfig = z.infer<typeof configSchema>;
export type EdgeConfigInput = z.input<typeof configSchema>;
