/**
 * Device config schemas of every registered driver, derived from the registry: the config
 * layer needs these, not the drivers. Each driver's schema is used three ways: as is (what
 * the driver sees), extended with the agent's per-device options (`failover`, `commands`,
 * `report`) for `devices[i]`, and with an optional name as a failover secondary. The
 * static types come from the definitions' config types (zod cannot infer a union built
 * from a list at run time), the run-time schemas from their `schema`.
 */
import { z } from 'zod';
import { topicSegment } from '../config-kit/common.js';
import { deviceCommandsSchema } from '../config/sections/commands.js';
import { deviceReportSchema } from '../config/sections/report.js';
import { configTagNames, failoverSchemaFor, tagMapIssues } from './failover/config.js';
import { DRIVERS, type DeviceConfig } from './registry.js';
import type { AnyDriverDefinition, ConfigIssue } from './types.js';

export type { DeviceConfig } from './registry.js';

type Options = readonly [z.ZodObject, ...z.ZodObject[]];

/** The registry's schemas, mapped; a tuple as discriminatedUnion wants one. */
function variants(map: (schema: z.ZodObject) => z.ZodObject): Options {
  const [first, ...rest] = DRIVERS.map((d) => map(d.schema));
  if (!first) throw new Error('no driver registered');
  return [first, ...rest];
}

export const driverDeviceSchema = z.discriminatedUnion(
  'driver',
  variants((s) => s),
) as unknown as z.ZodType<DeviceConfig>;

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

const secondarySourceSchema = z.discriminatedUnion('driver', variants(asSecondary));
/** A failover secondary: a device config whose name is optional. */
export type SecondarySourceConfig = DeviceConfig extends infer C
  ? C extends DeviceConfig
    ? Omit<C, 'name'> & { readonly name?: string }
    : never
  : never;

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

/** The agent's per-device options, beside the driver's fields. */
export interface AgentDeviceOptions {
  readonly failover?: z.output<ReturnType<typeof failoverSchemaFor<z.ZodType<SecondarySourceConfig>>>>;
  readonly commands?: z.output<typeof deviceCommandsSchema>;
  readonly report?: z.output<typeof deviceReportSchema>;
}

export const deviceSchema = z.discriminatedUnion(
  'driver',
  variants((s) => withAgentOptions(s) as unknown as z.ZodObject),
) as unknown as z.ZodType<AgentDeviceConfig>;
/** A `devices[i]` entry: the driver's config plus failover, commands and report. */
export type AgentDeviceConfig = DeviceConfig extends infer C
  ? C extends DeviceConfig
    ? C & AgentDeviceOptions
    : never
  : never;

const definitions = DRIVERS as readonly AnyDriverDefinition[];

/**
 * The drivers' top-level sections (Modbus: `dtu`), each optional, for the config root.
 * Typed loosely: the agent never reads them, only their driver's family does.
 */
export const driverSections: Readonly<Record<string, z.ZodOptional<z.ZodType>>> = Object.fromEntries(
  definitions.flatMap((d) =>
    d.section ? [[d.section.key, d.section.schema.optional().describe(d.section.description)]] : [],
  ),
);

/** Each section's cross-checks against the devices (a device naming a link that is not configured). */
export function driverSectionChecks(config: { readonly devices: readonly unknown[] }): ConfigIssue[] {
  const root = config as unknown as Readonly<Record<string, unknown>>;
  return definitions.flatMap((d) =>
    d.section?.crossCheck ? [...d.section.crossCheck(config.devices, root[d.section.key])] : [],
  );
}
