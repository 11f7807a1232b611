/** S7 device configuration: schema with defaults beside it. */
import { z } from 'zod';
import { backoffSchema, deviceIntervalMs, polledTagFields, topicSegment } from '../../config-kit/common.js';
import { writeRangeFields, writeRangeIssues } from '../../config-kit/write-range.js';
import { parseS7Address, type S7Address } from './address.js';

export const s7TagSchema = z
  .strictObject({
    name: topicSegment.describe(
      'Tag name, the key in the telemetry values (array elements publish as name.0, name.1, …)',
    ),
    address: z
      .string()
      .min(1)
      .describe(
        'S7 address, nodes7 syntax: DB1,INT4 · DB1,X0.3 · DB1,REAL8.10 (array) · DB1,S10.20 (STRING[20]) · I0.1 · QW2 · MR4 · T5 · C3',
      ),
    ...polledTagFields,
    writable: z.boolean().default(false).describe('Allow writes to this tag (commands); off by default'),
    ...writeRangeFields,
  })
  .superRefine((tag, ctx) => {
    const parsed = parseS7Address(tag.address);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', path: ['address'], message: parsed.reason });
    const numeric = parsed.ok && !['BOOL', 'CHAR', 'STRING'].includes(parsed.address.type);
    for (const issue of writeRangeIssues(tag, numeric)) ctx.addIssue({ code: 'custom', ...issue });
  });
export type S7TagConfig = z.infer<typeof s7TagSchema>;

const tsap = z.number().int().min(0).max(0xffff);

const s7ConnectionSchema = z
  .strictObject({
    host: z.string().min(1).describe('Host or IP of the PLC (or CP)'),
    port: z.number().int().min(1).max(65535).default(102),
    rack: z.number().int().min(0).max(7).default(0),
    slot: z
      .number()
      .int()
      .min(0)
      .max(31)
      .default(1)
      .describe('CPU slot: 1 for S7-1200/1500 (via the onboard port), usually 2 for S7-300'),
    localTSAP: tsap.optional().describe('Calling TSAP (e.g. 0x0100); with remoteTSAP instead of rack/slot'),
    remoteTSAP: tsap.optional().describe('Called TSAP (e.g. 0x0102 or 0x0200 for a LOGO!)'),
  })
  .superRefine((c, ctx) => {
    if ((c.localTSAP === undefined) !== (c.remoteTSAP === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [c.localTSAP === undefined ? 'localTSAP' : 'remoteTSAP'],
        message: 'localTSAP and remoteTSAP go together',
      });
    }
  });

export const s7DeviceSchema = z
  .strictObject({
    name: topicSegment.describe('Device name: the {device} topic level'),
    driver: z.literal('s7'),
    connection: s7ConnectionSchema,
    connectTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(60_000)
      .default(5000)
      .describe('TCP connect + ISO connection + PDU negotiation'),
    requestTimeoutMs: z
      .number()
      .int()
      .min(10)
      .max(60_000)
      .default(2000)
      .describe('Answer time of one read or write request'),
    deadAfterTimeouts: z
      .number()
      .int()
      .min(1)
      .max(10)
      .default(2)
      .describe('Requests in a row without answer after which the connection is re-opened'),
    keepAliveMs: z
      .number()
      .int()
      .min(0)
      .max(600_000)
      .default(5000)
      .describe('TCP keepalive idle time (0 = off); finds a pulled cable'),
    pduSize: z
      .number()
      .int()
      .min(240)
      .max(960)
      .default(960)
      .describe('PDU size proposed to the PLC (it may answer with less)'),
    maxParallelJobs: z
      .number()
      .int()
      .min(1)
      .max(8)
      .default(4)
      .describe('Requests in flight at once, capped by what the PLC negotiates'),
    maxItemsPerRequest: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(20)
      .describe('Items per ReadVar request (classic CPUs and snap7: 20)'),
    maxGap: z
      .number()
      .int()
      .min(0)
      .max(64)
      .default(4)
      .describe('Unused bytes a merged read may span between two tags'),
    intervalMs: deviceIntervalMs,
    reconnect: backoffSchema.prefault({}),
    reachabilityProbeMs: z
      .number()
      .int()
      .min(0)
      .default(5000)
      .describe(
        'While waiting to reconnect, a bare TCP connect to the PLC this often; when it succeeds the reconnect runs at once instead of waiting out the backoff (0: off)',
      ),
    quarantine: backoffSchema
      .prefault({})
      .describe('Re-probe delays of a tag the PLC refused (grows per failed probe)'),
    tags: z.array(s7TagSchema).min(1),
  })
  .superRefine((device, ctx) => {
    const seen = new Map<string, string>();
    device.tags.forEach((tag, i) => {
      const parsed = parseS7Address(tag.address);
      const names = parsed.ok ? publishedNames(tag.name, parsed.address) : [tag.name];
      for (const name of names) {
        const first = seen.get(name);
        if (first !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['tags', i, 'name'],
            message: `tag name "${name}" is also used by ${first}`,
          });
          return;
        }
        seen.set(name, `tags[${i}]`);
      }
    });
  });
export type S7DeviceConfig = z.infer<typeof s7DeviceSchema>;

/** Names a tag publishes: itself, or one per element of an array. */
export function publishedNames(name: string, address: S7Address): string[] {
  return address.isArray ? Array.from({ length: address.count }, (_, i) => `${name}.${i}`) : [name];
}
