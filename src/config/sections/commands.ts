import { z } from 'zod';

/** Agent-wide command settings (MQTT `{device}/cmd` → driver write). */
export const commandsSchema = z.strictObject({
  allowWrites: z
    .boolean()
    .default(false)
    .describe(
      'Allow commands to write to devices (default for every device; devices[i].commands.allowWrites wins). Tags must also be writable',
    ),
  timeoutMs: z
    .number()
    .int()
    .min(100)
    .max(600_000)
    .default(10_000)
    .describe(
      'A write not confirmed by the driver in this time is reported as error EDGE_ERR_CMD_TIMEOUT (outcome unknown)',
    ),
  maxPendingPerDevice: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(16)
    .describe('Commands waiting per device; more are rejected with EDGE_ERR_CMD_BUSY'),
  dedupeSize: z
    .number()
    .int()
    .min(16)
    .max(100_000)
    .default(1000)
    .describe('Recent command ids remembered to answer redeliveries without writing again'),
  maxPayloadBytes: z
    .number()
    .int()
    .min(256)
    .max(1_048_576)
    .default(65_536)
    .describe('Larger command payloads are dropped unparsed'),
});
export type CommandsConfig = z.infer<typeof commandsSchema>;

/** Per-device command settings. */
export const deviceCommandsSchema = z.strictObject({
  allowWrites: z
    .boolean()
    .optional()
    .describe('Overrides the agent-wide commands.allowWrites for this device'),
});
