import { z } from 'zod';

export const httpSchema = z.strictObject({
  enabled: z.boolean().default(true),
  host: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe('Bind address; keep loopback unless the status must be reachable'),
  port: z.number().int().min(0).max(65535).default(9464),
});

export const logSchema = z.strictObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export const memorySchema = z.strictObject({
  heapLimitMb: z
    .number()
    .int()
    .positive()
    .default(192)
    .describe('Above this heap size: log, snapshot, metric'),
  checkIntervalMs: z.number().int().positive().default(10_000),
  snapshotDir: z.string().optional().describe('Where heap snapshots go; absent: no snapshot is written'),
  snapshotMinIntervalMs: z.number().int().positive().default(3_600_000),
});
