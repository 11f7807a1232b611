import { z } from 'zod';

/** Agent-wide command settings (MQTT `{device}/cmd` → driver write). */
export const commandsSchema = z
  .strictObject({
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
    requireExpiry: z
      .boolean()
      .default(true)
      .describe(
        'Refuse commands (tag writes, pile commands) that carry neither ts nor an MQTT 5 message expiry (EDGE_ERR_CMD_EXPIRED)',
      ),
    maxAgeMs: z
      .number()
      .int()
      .min(1000)
      .max(86_400_000)
      .default(120_000)
      .describe(
        "Oldest accepted command: ts older than this (or the command's shorter ttlMs) is refused; also the longest MQTT 5 message expiry accepted",
      ),
    clockSkewMs: z
      .number()
      .int()
      .min(0)
      .max(600_000)
      .default(30_000)
      .describe('Tolerated clock difference between the command issuer and this box'),
    seenTtlMs: z
      .number()
      .int()
      .min(60_000)
      .default(7 * 24 * 3600 * 1000)
      .describe(
        'Command ids are kept in the store this long (a redelivery is answered, not run again); must exceed maxAgeMs + 2 × clockSkewMs',
      ),
    maxSeenIds: z
      .number()
      .int()
      .min(1000)
      .max(10_000_000)
      .default(100_000)
      .describe(
        'Stored command ids at most. The oldest are pruned for room only once past maxAgeMs + 2 × clockSkewMs; a ledger full of ids still valid refuses new commands (EDGE_ERR_CMD_BUSY, reason ledger-full) rather than forget one whose redelivery could run again',
      ),
  })
  .refine((c) => c.seenTtlMs > c.maxAgeMs + 2 * c.clockSkewMs, {
    path: ['seenTtlMs'],
    message:
      'must exceed maxAgeMs + 2 × clockSkewMs: a command must be stale before its id is forgotten, or a redelivery would run again',
  });
export type CommandsConfig = z.infer<typeof commandsSchema>;

/** Per-device command settings. */
export const deviceCommandsSchema = z.strictObject({
  allowWrites: z
    .boolean()
    .optional()
    .describe('Overrides the agent-wide commands.allowWrites for this device'),
});
