/** DTU (serial-to-cellular/Ethernet modem) configuration: the top-level `dtu:` section. */
import { z } from 'zod';
import { backoffSchema, topicSegment } from '../../../config-kit/common.js';
import { cidrSchema } from '../../../core/allow-list.js';
import { unsafeRegexReason } from './regex-safety.js';

const HEX = /^(?:[0-9A-Fa-f]{2})+$/;

/** A byte pattern: ASCII text or hex digits (spaces allowed in hex). */
const bytesPattern = z.union([
  z.strictObject({ ascii: z.string().min(1).max(128).describe('Pattern as ASCII text (latin1 bytes)') }),
  z.strictObject({
    hex: z
      .string()
      .transform((s) => s.replace(/[\s:]/g, ''))
      .pipe(z.string().min(2).max(256).regex(HEX, 'an even number of hex digits'))
      .describe('Pattern as hex bytes, e.g. "FE" or "44 54 55 00"'),
  }),
]);

const registrationPattern = z.union([
  bytesPattern,
  z.strictObject({
    regex: z
      .string()
      .min(1)
      .max(256)
      .refine((s) => {
        try {
          new RegExp(s);
          return true;
        } catch {
          return false;
        }
      }, 'not a valid JavaScript regular expression')
      .superRefine((s, ctx) => {
        const why = unsafeRegexReason(s);
        if (why !== undefined) ctx.addIssue({ code: 'custom', message: why });
      })
      .describe(
        'JavaScript regex on the latin1 text of the first bytes; match[0] is consumed (anchor with ^)',
      ),
  }),
]);

export type BytesPattern = z.infer<typeof bytesPattern>;
export type RegistrationPattern = z.infer<typeof registrationPattern>;

export const dtuServerSchema = z.strictObject({
  host: z
    .string()
    .min(1)
    .describe(
      'Address the DTU listener binds. No default on purpose: the DTUs reach the station on one side (a 4G APN, a VPN, the LAN) and only the operator knows which; 0.0.0.0 exposes it to every network the station is on',
    ),
  port: z.number().int().min(0).max(65535).default(9000).describe('Port DTUs dial (0: any, tests)'),
  registrationTimeoutMs: z
    .number()
    .int()
    .min(100)
    .max(600_000)
    .default(10_000)
    .describe('Time a new connection has to send its registration'),
  maxLinks: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(500)
    .describe('Open DTU sockets (registered or not) at most'),
  allowFrom: z
    .array(cidrSchema)
    .min(1)
    .optional()
    .describe(
      'Source addresses/CIDRs (IPv4, IPv6) the listener accepts; others are closed at accept. Default: any',
    ),
  unknownRegistrationsPerMinute: z
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(10)
    .describe(
      'Unknown or refused (takeover, link allowFrom) registrations per source address and minute; beyond it that address is refused at accept until the minute ends',
    ),
});

const liveness = {
  heartbeat: bytesPattern.optional().describe('Heartbeat bytes the DTU sends; removed from the data stream'),
  heartbeatIntervalMs: z
    .number()
    .int()
    .min(10)
    .max(3_600_000)
    .default(30_000)
    .describe('Expected heartbeat period'),
  missedHeartbeats: z
    .number()
    .int()
    .min(0)
    .max(100)
    .default(3)
    .describe('No bytes at all for missedHeartbeats × heartbeatIntervalMs closes the link (0: never)'),
  keepalive: z
    .strictObject({
      unitId: z.number().int().min(0).max(255).default(1),
      address: z.number().int().min(0).max(65535).default(0),
      intervalMs: z.number().int().min(100).default(60_000),
      timeoutMs: z.number().int().min(10).max(60_000).default(2000),
    })
    .optional()
    .describe('Agent-sent read (holding, 1 register) when the link was idle for intervalMs'),
  echoSuppression: z
    .boolean()
    .optional()
    .describe('Drop an exact echo of the request; default: the section value'),
};

const serverLink = z.strictObject({
  name: topicSegment.describe('Link name, referenced by devices as connection.dtu'),
  mode: z.literal('server'),
  registration: registrationPattern.describe('Registration packet the DTU sends first'),
  allowFrom: z
    .array(cidrSchema)
    .min(1)
    .optional()
    .describe('Source addresses/CIDRs this link may register from (on top of dtu.server.allowFrom)'),
  replaceLive: z
    .boolean()
    .default(false)
    .describe(
      'Let a new connection with this registration take over while the current one is live (a byte within 1.5 × heartbeatIntervalMs: a late heartbeat is not a dead link). Off: the attempt is refused, counted and logged',
    ),
  ...liveness,
});

const clientLink = z.strictObject({
  name: topicSegment.describe('Link name, referenced by devices as connection.dtu'),
  mode: z.literal('client'),
  host: z.string().min(1).describe('Host of a DTU that listens (transparent RTU over TCP)'),
  port: z.number().int().min(1).max(65535),
  connectTimeoutMs: z.number().int().min(100).max(60_000).default(5000),
  reconnect: backoffSchema.prefault({}),
  ...liveness,
});

const dtuLinkSchema = z.discriminatedUnion('mode', [serverLink, clientLink]);

export const dtuSchema = z
  .strictObject({
    server: dtuServerSchema.optional().describe('DTU listener; needed when any link has mode server'),
    links: z.array(dtuLinkSchema).min(1),
    echoSuppression: z
      .boolean()
      .default(false)
      .describe('Drop an exact echo of each request (DTUs in echo mode)'),
  })
  .superRefine((dtu, ctx) => {
    const names = new Map<string, number>();
    const registrations = new Map<string, number>();
    dtu.links.forEach((link, i) => {
      const first = names.get(link.name);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['links', i, 'name'],
          message: `duplicate DTU link name "${link.name}" (also links[${first}])`,
        });
      else names.set(link.name, i);
      if (link.mode === 'server') {
        const key = JSON.stringify(link.registration);
        const same = registrations.get(key);
        if (same !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['links', i, 'registration'],
            message: `same registration as links[${same}]`,
          });
        } else registrations.set(key, i);
      }
    });
    if (dtu.links.some((l) => l.mode === 'server') && !dtu.server) {
      ctx.addIssue({
        code: 'custom',
        path: ['server'],
        message: 'a link has mode server: configure dtu.server (host, port)',
      });
    }
  });

export type DtuConfig = z.infer<typeof dtuSchema>;
export type DtuConfigInput = z.input<typeof dtuSchema>;
export type DtuLinkConfig = z.infer<typeof dtuLinkSchema>;
export type DtuServerConfig = z.infer<typeof dtuServerSchema>;

/** Bytes of an ascii/hex pattern. */
export function patternBytes(p: BytesPattern): Buffer {
  return 'ascii' in p ? Buffer.from(p.ascii, 'latin1') : Buffer.from(p.hex, 'hex');
}

export interface CrossCheckIssue {
  readonly path: (string | number)[];
  readonly message: string;
}

/**
 * Root-schema cross-check: every device with `connection.transport: dtu` names a link of
 * `dtu.links`. `devices` are the root's device entries (any driver); paths are relative
 * to the root (`['devices', i, 'connection', 'dtu']`).
 */
export function dtuCrossCheck(
  devices: readonly { readonly connection?: unknown }[] | undefined,
  dtu: { readonly links: readonly { readonly name: string }[] } | undefined,
): CrossCheckIssue[] {
  const issues: CrossCheckIssue[] = [];
  const names = new Set((dtu?.links ?? []).map((l) => l.name));
  (devices ?? []).forEach((device, i) => {
    const c = device.connection as { transport?: unknown; dtu?: unknown } | undefined;
    if (!c || c.transport !== 'dtu') return;
    const name = String(c.dtu);
    if (!dtu)
      issues.push({
        path: ['devices', i, 'connection', 'dtu'],
        message: `device uses DTU link "${name}" but there is no dtu section`,
      });
    else if (!names.has(name)) {
      issues.push({
        path: ['devices', i, 'connection', 'dtu'],
        message: `unknown DTU link "${name}"; dtu.links has ${[...names].map((n) => `"${n}"`).join(', ') || 'none'}`,
      });
    }
  });
  return issues;
}
