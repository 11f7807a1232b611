import { z } from 'zod';

/** One tag's (or a device's default) report-by-exception policy; fields left out are inherited. */
const reportFields = {
  mode: z
    .enum(['all', 'change', 'period'])
    .describe(
      'all: every poll is reported (default); change: a value is reported when it moved beyond the deadband since the last reported one; period: once per maxPeriodMs. In every mode a quality change and the first value after start or reconnect are reported at once, and every tag at least once per maxPeriodMs',
    ),
  deadband: z
    .union([
      z.strictObject({ abs: z.number().min(0).describe('Absolute change (engineering unit)') }),
      z.strictObject({
        percent: z.number().min(0).max(1000).describe('Change relative to the last reported value, in %'),
      }),
    ])
    .describe('mode change: numbers closer than this to the last *reported* value are not reported'),
  minIntervalMs: z
    .number()
    .int()
    .min(0)
    .describe(
      'mode change: at most one value change per tag this often; a change inside it is held and reported at its end with the time it was read (quality changes are never held)',
    ),
  maxPeriodMs: z
    .number()
    .int()
    .min(1000)
    .max(86_400_000)
    .describe(
      'Every tag is reported at least this often, changed or not (consumers tell "unchanged" from "dead")',
    ),
};

export const tagReportSchema = z.strictObject({
  mode: reportFields.mode.optional(),
  deadband: reportFields.deadband.optional(),
  minIntervalMs: reportFields.minIntervalMs.optional(),
  maxPeriodMs: reportFields.maxPeriodMs.optional(),
});

export const deviceReportSchema = z.strictObject({
  mode: reportFields.mode.default('all'),
  deadband: reportFields.deadband.default({ abs: 0 }),
  minIntervalMs: reportFields.minIntervalMs.default(0),
  maxPeriodMs: reportFields.maxPeriodMs.default(300_000),
  tags: z
    .record(z.string().min(1), tagReportSchema)
    .default({})
    .describe('Per-tag overrides of the fields above, by tag name'),
});
export type DeviceReportConfig = z.infer<typeof deviceReportSchema>;
