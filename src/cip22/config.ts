/** The `cip22:` section: the charging-pile gateway (TLS listener, identity, limits, policy). */
import { z } from 'zod';
import { keyRefSchema, topicSegment } from '../config-kit/common.js';

const minute = z.number().int().min(0).max(1440);

const tariffWindow = z.strictObject({
  startMinute: minute.describe('Start of the window, minutes after local midnight'),
  endMinute: minute.describe('End of the window (exclusive), minutes after local midnight'),
  priceMilli: z
    .number()
    .int()
    .min(0)
    .max(0xffffffff)
    .describe('Price in thousandths of the currency unit per kWh'),
  maxCurrentMa: z
    .number()
    .int()
    .min(0)
    .max(0xffffffff)
    .describe('Largest charging current allowed in the window, mA'),
});
export type TariffWindow = z.infer<typeof tariffWindow>;

const CIP22_VERSIONS = ['1.2', '2.0'] as const;
export type Cip22Version = (typeof CIP22_VERSIONS)[number];
const PILE_COMMANDS = ['start', 'stop', 'reset', 'begin-upgrade'] as const;

export const cip22Schema = z
  .strictObject({
    enabled: z.boolean().default(false),
    host: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Address to listen on; required when enabled. No default on purpose: a station has a LAN and a WAN side, and only the operator knows which one the piles are on',
      ),
    port: z.number().int().min(1).max(65535).default(7722),
    tls: z
      .strictObject({
        cert: z
          .string()
          .min(1)
          .describe(
            'PEM file: the gateway certificate (chain) the piles verify against their pinned station CA',
          ),
        key: keyRefSchema.describe('Gateway private key: {file: path} or {env: VAR}'),
      })
      .optional()
      .describe('TLS 1.3 server identity; required when enabled'),
    roots: z
      .array(z.string().min(1))
      .default([])
      .describe('PEM files of the pinned roots that pile chains must end in; at least one when enabled'),
    allowRootIssuedPiles: z
      .boolean()
      .default(false)
      .describe(
        'Accept pile certificates issued directly by a pinned root (no issuing CA). Off: the root key stays offline and only issuing CAs sign piles',
      ),
    crls: z
      .array(z.string().min(1))
      .default([])
      .describe(
        "PEM/DER CRL files (e.g. each issuing CA's); a pile or issuing CA listed there is refused. Re-read when a file changes",
      ),
    verify: z
      .strictObject({
        workers: z
          .number()
          .int()
          .min(0)
          .max(16)
          .default(1)
          .describe(
            'Worker threads for handshake signature checks; 0: on the event loop (not for the field)',
          ),
        maxQueue: z.number().int().min(1).default(64).describe('Checks waiting at most, all sources'),
        maxQueuePerSource: z
          .number()
          .int()
          .min(1)
          .default(4)
          .describe('Checks waiting at most per source address; more: AUTH_FAIL rate-limited'),
      })
      .prefault({})
      .describe('Signature checks of handshakes, off the event loop, fair between source addresses'),
    piles: z
      .record(topicSegment, z.strictObject({ identity: z.enum(['sm2', 'ecdsa-p256']) }))
      .default({})
      .describe('Pile registry: device_id → identity algorithm, used when HELLO does not say'),
    onlyRegistered: z.boolean().default(false).describe('Refuse piles that are not in the registry'),
    versions: z
      .array(z.enum(CIP22_VERSIONS))
      .min(1)
      .default(['2.0'])
      .describe(
        'Protocol versions accepted; the highest common one is selected. 1.2 has no frame sealing (TLS only): add it only for piles that cannot do 2.0',
      ),
    maxPayload: z
      .number()
      .int()
      .min(64)
      .max(65535)
      .default(4096)
      .describe('Largest frame payload accepted; larger is a protocol error'),
    heartbeatMs: z
      .number()
      .int()
      .min(100)
      .default(30_000)
      .describe('Heartbeat interval given in AUTH_OK; 3 silent intervals make the pile OFFLINE'),
    handshakeTimeoutMs: z
      .number()
      .int()
      .min(100)
      .default(10_000)
      .describe('From TCP accept (TLS included) to AUTH_OK; the connection is destroyed when it passes'),
    nonceValidityMs: z
      .number()
      .int()
      .min(100)
      .default(10_000)
      .describe('A CHALLENGE must be answered within this time'),
    maxSessions: z
      .number()
      .int()
      .min(1)
      .default(2000)
      .describe('Connections (handshaking or authenticated) at once'),
    maxPreAuth: z
      .number()
      .int()
      .min(1)
      .default(128)
      .describe(
        'Connections not yet authenticated (TLS included) at once; more are closed at TCP accept. Keep it well under the file limit',
      ),
    maxPreAuthPerSource: z
      .number()
      .int()
      .min(1)
      .default(16)
      .describe('Connections not yet authenticated per source address; more are closed at TCP accept'),
    perIpHandshakesPerMinute: z
      .number()
      .int()
      .min(1)
      .default(120)
      .describe('New connections per source address and minute'),
    upgradeTimeoutMs: z
      .number()
      .int()
      .min(1000)
      .default(600_000)
      .describe('UPGRADING without a STATUS this long → FAULT'),
    allowCommands: z
      .array(z.enum(PILE_COMMANDS))
      .default([])
      .describe('Commands accepted from MQTT ({pile}/cmd). Empty: none, since a command changes a device'),
    policy: z
      .strictObject({ windows: z.array(tariffWindow).max(96).default([]) })
      .prefault({})
      .describe('Tariff policy sent to piles whose policy hash differs (SET_POLICY)'),
  })
  .superRefine((c, ctx) => {
    if (!c.enabled) return;
    if (c.host === undefined)
      ctx.addIssue({ code: 'custom', path: ['host'], message: 'required when cip22 is enabled' });
    if (c.tls === undefined)
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'required when cip22 is enabled' });
    if (c.roots.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['roots'],
        message: 'at least one pinned root when cip22 is enabled',
      });
    c.policy.windows.forEach((w, i) => {
      if (w.endMinute <= w.startMinute)
        ctx.addIssue({
          code: 'custom',
          path: ['policy', 'windows', i, 'endMinute'],
          message: 'must be after startMinute',
        });
    });
  });

export type Cip22Config = z.infer<typeof cip22Schema>;
