import { z } from 'zod';

/** Hot reload, config history and signed remote config (docs/remote-config.md). */
export const reloadSchema = z.strictObject({
  historyDir: z
    .string()
    .min(1)
    .default('/var/lib/edge-agent/config')
    .describe(
      'Config history (last configs by hash, the active one, a trial); always taken from the local file, never from a pushed config',
    ),
  keep: z.number().int().min(2).max(100).default(10).describe('Configs kept in the history'),
  trialWindowSec: z
    .number()
    .int()
    .positive()
    .default(60)
    .describe(
      'A reloaded or pushed config must be healthy within this (broker connected; a changed device polled good) or the previous one comes back',
    ),
  commands: z.boolean().default(false).describe('Accept signed configs on {prefix}/{site}/agent/config/set'),
  publicKeys: z
    .array(z.string().min(1))
    .optional()
    .describe(
      'PEM files (or directories) of the keys that may sign configs; absent: ota.commandPublicKeys, else ota.publicKeys',
    ),
  maxBytes: z
    .number()
    .int()
    .positive()
    .max(4_194_304)
    .default(262_144)
    .describe('Largest pushed config text'),
});
export type ReloadConfig = z.infer<typeof reloadSchema>;
