/**
 * The config toolkit: zod building blocks every area's schema uses (drivers, CIP-22, MQTT,
 * the agent sections). A bottom module: it imports only zod and src/core/, never the
 * composed configuration (src/config/schema.ts), so drivers can use it without a cycle.
 */
import { z } from 'zod';

/** Secrets come inline, from an environment variable, or from a file; never printed. */
export const secretRefSchema = z.union([
  z.string().min(1),
  z.strictObject({ env: z.string().min(1).describe('Environment variable holding the secret') }),
  z.strictObject({ file: z.string().min(1).describe('File holding the secret (trailing newline trimmed)') }),
]);
export type SecretRef = z.infer<typeof secretRefSchema>;

/** Private keys are never inline: a file (the usual case) or an environment variable. */
export const keyRefSchema = z.union([
  z.strictObject({ file: z.string().min(1).describe('PEM file of the private key') }),
  z.strictObject({ env: z.string().min(1).describe('Environment variable holding the PEM text') }),
]);

/**
 * A backoff section with its own defaults on the fields themselves (not in a prefault
 * object), so the generated reference shows the default that applies for every field.
 */
export function backoffSchemaWith(defaults: { initialMs?: number; maxMs?: number } = {}) {
  return z.strictObject({
    initialMs: z
      .number()
      .int()
      .positive()
      .default(defaults.initialMs ?? 1000),
    maxMs: z
      .number()
      .int()
      .positive()
      .default(defaults.maxMs ?? 60_000),
    multiplier: z.number().min(1).default(2),
    jitter: z.number().min(0).max(1).default(0.5),
  });
}

export const backoffSchema = backoffSchemaWith();

export const breakerSchema = z.strictObject({
  failureThreshold: z.number().int().positive().default(5),
  cooldownMs: z.number().int().positive().default(30_000),
});

/** Identifiers that end up in MQTT topics: no wildcards, no separators. */
export const topicSegment = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.-]+$/, 'use letters, digits, "_", "." or "-" (it becomes an MQTT topic level)');

/**
 * Fields every polled tag has, whatever the protocol (Modbus, S7): its scaling to the
 * engineering value and its own poll interval. One definition so the drivers stay alike.
 */
export const polledTagFields = {
  scale: z.number().default(1),
  offset: z.number().default(0),
  intervalMs: z.number().int().min(10).optional().describe('Poll interval; defaults to the device interval'),
};

/** The device's default tag poll interval (Modbus, S7). */
export const deviceIntervalMs = z
  .number()
  .int()
  .min(10)
  .default(1000)
  .describe('Default poll interval of the tags');
