import { z } from 'zod';
import { secretRefSchema } from '../../config-kit/common.js';

/** Loopback bind addresses: the only ones where the status page needs no login. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const httpAuthSchema = z
  .strictObject({
    token: secretRefSchema
      .optional()
      .describe('Bearer token (Authorization: Bearer …, or typed into the login form)'),
    password: secretRefSchema.optional().describe('Password for the login form'),
    sessionTtlMs: z
      .number()
      .int()
      .min(60_000)
      .default(8 * 3_600_000)
      .describe('How long a login (session cookie) stays valid'),
    maxAttemptsPerMinute: z
      .number()
      .int()
      .min(1)
      .default(10)
      .describe('Failed logins allowed per source address and minute; more are refused (429)'),
  })
  .describe('Login for the station page, /status.json and /metrics; required when host is not loopback');

export const httpSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    host: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .describe(
        'Bind address; keep loopback unless the status must be reachable (then http.auth is required)',
      ),
    port: z.number().int().min(0).max(65535).default(9464),
    auth: httpAuthSchema.optional(),
  })
  .superRefine((http, ctx) => {
    // Beyond loopback the page shows the whole station: never without a login.
    if (http.enabled && !isLoopbackHost(http.host) && !http.auth?.token && !http.auth?.password)
      ctx.addIssue({
        code: 'custom',
        path: ['auth'],
        message: `http.host ${http.host} is not loopback: set http.auth.token or http.auth.password`,
      });
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
