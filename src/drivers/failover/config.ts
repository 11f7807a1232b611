/**
 * Config of a device's secondary source (`devices[i].failover`). The schema is built by
 * src/drivers/schemas.ts, which knows every driver: the secondary is a device config of
 * any driver (name optional). Checks that need both sides (the tag map) run on the device.
 */
import type { FailoverPolicyOptions } from './policy.js';
import { z } from 'zod';
import { topicSegment } from '../../config-kit/common.js';

/** Builds the `failover` schema around the union of secondary device configs. */
export function failoverSchemaFor<S extends z.ZodType>(secondary: S) {
  return z
    .strictObject({
      secondary: secondary.describe(
        'The secondary source: a device config of any driver (name optional, default `<device>.secondary`, used in logs and status only)',
      ),
      tagMap: z
        .record(topicSegment, topicSegment)
        .optional()
        .describe(
          'Primary tag → secondary tag. Absent: every primary tag under the same name. Given: only these tags have values on the secondary',
        ),
      errorRateThreshold: z
        .number()
        .gt(0)
        .max(1)
        .default(0.5)
        .describe("Fail over when the primary's share of bad values over the window is at or above this"),
      windowMs: z
        .number()
        .int()
        .min(100)
        .default(60_000)
        .describe('Trailing window the error rate is measured over (observed in full before a failover)'),
      minSamples: z
        .number()
        .int()
        .min(1)
        .default(5)
        .describe('Polls the window must hold before it can trigger a failover'),
      recoverErrorRate: z
        .number()
        .min(0)
        .lt(1)
        .default(0.1)
        .describe(
          'A probe of the primary is healthy when its share of bad values is at most this (below errorRateThreshold: hysteresis)',
        ),
      recoverAfterMs: z
        .number()
        .int()
        .min(0)
        .default(120_000)
        .describe('Switch back once every probe of the primary was healthy for this long'),
      probeIntervalMs: z
        .number()
        .int()
        .min(100)
        .default(10_000)
        .describe(
          'While on the secondary, the primary is probed this often (and the secondary is checked at most this often before a failover)',
        ),
    })
    .superRefine((f, ctx) => {
      if (f.recoverErrorRate >= f.errorRateThreshold) {
        ctx.addIssue({
          code: 'custom',
          path: ['recoverErrorRate'],
          message: `must be below errorRateThreshold (${f.errorRateThreshold}) so the two switches do not flap`,
        });
      }
    });
}

interface WithTags {
  readonly tags?: unknown;
}

/** Tag names of a device config, when its driver uses the common `tags: [{name}]` shape. */
export function configTagNames(config: WithTags): readonly string[] | undefined {
  if (!Array.isArray(config.tags)) return undefined;
  const names: string[] = [];
  for (const tag of config.tags as unknown[]) {
    if (typeof tag === 'object' && tag !== null && typeof (tag as { name?: unknown }).name === 'string')
      names.push((tag as { name: string }).name);
  }
  return names;
}

export interface TagMapIssue {
  readonly path: (string | number)[];
  readonly message: string;
}

/**
 * The mapping's problems, with paths relative to the device. Used by the schema (on
 * config tags) and by the driver's init() (on the drivers' tags(), for any driver).
 */
export function tagMapIssues(
  primary: readonly string[],
  secondary: readonly string[],
  tagMap: Readonly<Record<string, string>> | undefined,
): TagMapIssue[] {
  const issues: TagMapIssue[] = [];
  const onPrimary = new Set(primary);
  const onSecondary = new Set(secondary);
  if (!tagMap) {
    for (const tag of primary) {
      if (!onSecondary.has(tag)) {
        issues.push({
          path: ['failover', 'tagMap'],
          message: `the secondary has no tag "${tag}" (without a tagMap every primary tag is read under the same name; give a tagMap)`,
        });
      }
    }
    return issues;
  }
  for (const [from, to] of Object.entries(tagMap)) {
    if (!onPrimary.has(from))
      issues.push({ path: ['failover', 'tagMap', from], message: `the device has no tag "${from}"` });
    if (!onSecondary.has(to))
      issues.push({ path: ['failover', 'tagMap', from], message: `the secondary has no tag "${to}"` });
  }
  return issues;
}

export interface FailoverConfig extends FailoverPolicyOptions {
  readonly secondary: { readonly name?: string; readonly driver: string };
  readonly tagMap?: Readonly<Record<string, string>>;
}
