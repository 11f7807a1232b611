/**
 * Device config schemas of every driver: the config layer needs these, not the drivers.
 * Each driver's schema is used three ways: as is (what the driver sees), extended with
 * the agent's per-device options (`failover`, `commands`) for `devices[i]`, and with an
 * optional name as a failover secondary. Adding a driver = one entry in each list.
 */
import { z } from 'zod';
import { topicSegment } from '../config/sections/common.js';
import { deviceCommandsSchema } from '../config/sections/commands.js';
import { deviceReportSchema } from '../config/sections/report.js';
import { configTagNames, failoverSchemaFor, tagMapIssues } from './failover/config.js';
import { modbusDeviceSchema } from './modbus/config.js';
import { s7DeviceSchema } from './s7/config.js';

export const driverDeviceSchema = z.discriminatedUnion('driver', [modbusDeviceSchema, s7DeviceSchema]);
/** A device config as its driver sees it. */
export type DeviceConfig = z.infer<typeof driverDeviceSchema>;

const secondaryName = topicSegment
  .optional()
  .describe('Name in logs and status (default `<device>.secondary`)');
type SecondaryShape<Shape extends z.ZodRawShape> = Omit<Shape, 'name'> & { name: typeof secondaryName };

/**
 * The same driver schema, name optional: a failover secondary. zod's safeExtend keeps the
 * driver's refinements; its typing cannot express loosening a key, hence the cast.
 */
function asSecondary<Shape extends z.ZodRawShape, Config extends z.core.$ZodObjectConfig>(
  schema: z.ZodObject<Shape, Config>,
) {
  return schema.safeExtend({ name: secondaryName } as never) as unknown as z.ZodObject<
    SecondaryShape<Shape>,
    Config
  >;
}

const secondarySourceSchema = z.discriminatedUnion('driver', [
  asSecondary(modbusDeviceSchema),
  asSecondary(s7DeviceSchema),
]);
export type SecondarySourceConfig = z.infer<typeof secondarySourceSchema>;

const failoverSchema = failoverSchemaFor(secondarySourceSchema);

/** The driver schema plus the agent's per-device options. */
function withAgentOptions<Shape extends z.ZodRawShape, Config extends z.core.$ZodObjectConfig>(
  schema: z.ZodObject<Shape, Config>,
) {
  return schema
    .extend({
      failover: failoverSchema
        .optional()
        .describe('A secondary source the device switches to while the primary keeps failing'),
      commands: deviceCommandsSchema.optional().describe('Command (write) settings of this device'),
      report: deviceReportSchema
        .optional()
        .describe('Report by exception (docs/mqtt-payload.md); absent: every poll is reported'),
    })
    .superRefine((device, ctx) => {
      checkTagMap(device as FailoverHolder, ctx);
      checkReportTags(device as FailoverHolder & { report?: { tags: Record<string, unknown> } }, ctx);
    });
}

/** A per-tag report override must name a tag of the device: a typo would silently not apply. */
function checkReportTags(
  device: FailoverHolder & { report?: { tags: Record<string, unknown> } },
  ctx: z.RefinementCtx,
): void {
  const names = configTagNames(device);
  if (!device.report || !names) return;
  for (const tag of Object.keys(device.report.tags))
    if (!names.includes(tag))
      ctx.addIssue({ code: 'custom', path: ['report', 'tags', tag], message: `no tag named "${tag}"` });
}

interface FailoverHolder {
  readonly tags?: unknown;
  readonly failover?: {
    readonly secondary: { readonly tags?: unknown };
    readonly tagMap?: Readonly<Record<string, string>>;
  };
}

function checkTagMap(device: FailoverHolder, ctx: z.RefinementCtx): void {
  const failover = device.failover;
  if (!failover) return;
  const primary = configTagNames(device);
  const secondary = configTagNames(failover.secondary);
  if (!primary || !secondary) return; // a driver without tags[].name: checked by the failover driver's init()
  for (const issue of tagMapIssues(primary, secondary, failover.tagMap))
    ctx.addIssue({ code: 'custom', ...issue });
}

export const deviceSchema = z.discriminatedUnion('driver', [
  withAgentOptions(modbusDeviceSchema),
  withAgentOptions(s7DeviceSchema),
]);
/** A `devices[i]` entry: the driver's config plus failover and commands. */
export type AgentDeviceConfig = z.infer<typeof deviceSchema>;

export const DRIVER_NAMES: readonly DeviceConfig['driver'][] = ['modbus', 's7'];
