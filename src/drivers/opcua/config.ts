/** OPC UA device configuration: schema with defaults beside it. */
import { z } from 'zod';
import {
  backoffSchema,
  deviceIntervalMs,
  keyRefSchema,
  polledTagFields,
  secretRefSchema,
  topicSegment,
} from '../../config-kit/common.js';
import { writeRangeFields, writeRangeIssues } from '../../config-kit/write-range.js';

/** Tag datatypes: the OPC UA built-in scalar types the driver maps to JSON values. */
export const OPCUA_TYPES = [
  'Boolean',
  'SByte',
  'Byte',
  'Int16',
  'UInt16',
  'Int32',
  'UInt32',
  'Int64',
  'UInt64',
  'Float',
  'Double',
  'String',
] as const;
export type OpcuaType = (typeof OPCUA_TYPES)[number];

/** `ns=<n>;<i|s|g|b>=<id>` or `nsu=<uri>;…` (what node-opcua's coerceNodeId accepts). */
const NODE_ID = /^(ns=\d+;|nsu=[^;]+;)?[isgb]=.+$/;

const deadbandSchema = z.strictObject({
  type: z
    .enum(['absolute', 'percent'])
    .describe('absolute: in the raw value unit; percent: of the EURange (servers that expose one)'),
  value: z.number().min(0),
});

export const opcuaTagSchema = z
  .strictObject({
    name: topicSegment.describe('Tag name, the key in the telemetry values'),
    nodeId: z
      .string()
      .regex(NODE_ID, 'expected a node id such as ns=2;s=Line1.Voltage or ns=3;i=1001')
      .describe('Node id of the variable (ns=2;s=… · ns=3;i=… · nsu=<uri>;s=…)'),
    dataType: z
      .enum(OPCUA_TYPES)
      .describe('Expected built-in type; a value of another type is bad (EDGE_ERR_OPCUA_TYPE_MISMATCH)'),
    ...polledTagFields,
    samplingIntervalMs: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('Server-side sampling of a monitored item (default: the tag interval)'),
    queueSize: z.number().int().min(1).max(1000).default(1).describe('Monitored item queue size'),
    deadband: deadbandSchema.optional().describe('Data change filter (numeric tags, subscription mode)'),
    writable: z.boolean().default(false).describe('Allow writes to this tag (commands); off by default'),
    ...writeRangeFields,
  })
  .superRefine((tag, ctx) => {
    const numeric = tag.dataType !== 'Boolean' && tag.dataType !== 'String';
    for (const issue of writeRangeIssues(tag, numeric)) ctx.addIssue({ code: 'custom', ...issue });
    if (tag.deadband && !numeric)
      ctx.addIssue({ code: 'custom', path: ['deadband'], message: 'deadband applies to numeric tags only' });
  });
export type OpcuaTagConfig = z.infer<typeof opcuaTagSchema>;

const fingerprint = z
  .string()
  .transform((s) => s.replace(/:/g, '').toLowerCase())
  .pipe(z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 fingerprint (64 hex digits, colons allowed)'));

const securitySchema = z
  .strictObject({
    mode: z.enum(['None', 'Sign', 'SignAndEncrypt']).default('None'),
    policy: z
      .enum(['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'])
      .default('None')
      .describe('Security policy; None only with mode None'),
    serverCertificateSha256: fingerprint
      .optional()
      .describe(
        'Pin the server certificate (sha256 of its DER); absent: it must be in <pkiDir>/trusted/certs',
      ),
  })
  .superRefine((s, ctx) => {
    if ((s.mode === 'None') !== (s.policy === 'None'))
      ctx.addIssue({
        code: 'custom',
        path: ['policy'],
        message: `mode ${s.mode} needs ${s.mode === 'None' ? 'policy None' : 'a policy other than None'}`,
      });
    if (s.mode === 'None' && s.serverCertificateSha256 !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['serverCertificateSha256'],
        message: 'mode None checks no server certificate: a pin would protect nothing',
      });
  });

const identitySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('anonymous') }),
  z.strictObject({
    type: z.literal('username'),
    user: z.string().min(1),
    password: secretRefSchema.describe('Inline, {env: VAR} or {file: path}; never logged'),
  }),
  z.strictObject({
    type: z.literal('certificate'),
    certificate: z.string().min(1).describe('PEM or DER file of the user certificate'),
    privateKey: keyRefSchema,
  }),
]);

const subscriptionSchema = z.strictObject({
  publishingIntervalMs: z.number().int().min(10).default(1000),
  keepAliveCount: z.number().int().min(1).max(1000).default(10),
  lifetimeCount: z.number().int().min(3).max(10_000).default(60),
  maxNotificationsPerPublish: z.number().int().min(0).default(0).describe('0: no limit'),
});

export const opcuaDeviceSchema = z
  .strictObject({
    name: topicSegment.describe('Device name: the {device} topic level'),
    driver: z.literal('opcua'),
    endpoint: z
      .string()
      .regex(/^opc\.tcp:\/\/[^/]+/, 'expected opc.tcp://host:port[/path]')
      .describe('Endpoint URL of the server'),
    security: securitySchema.prefault({}),
    identity: identitySchema.default({ type: 'anonymous' }).describe('User identity of the session'),
    pkiDir: z
      .string()
      .min(1)
      .default('./data/opcua-pki')
      .describe(
        "The client's PKI (own certificate created on first use, trusted/ and rejected/ server certificates)",
      ),
    mode: z
      .enum(['subscription', 'poll'])
      .default('subscription')
      .describe('subscription: monitored items report changes; poll: a Read per poll'),
    subscription: subscriptionSchema.prefault({}),
    uncertain: z
      .enum(['bad', 'good'])
      .default('bad')
      .describe('Uncertain status: published bad (EDGE_ERR_OPCUA_UNCERTAIN) or as a good value'),
    connectTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    requestTimeoutMs: z.number().int().min(100).max(120_000).default(5000),
    sessionTimeoutMs: z.number().int().min(1000).max(3_600_000).default(60_000),
    recreateAfterMs: z
      .number()
      .int()
      .min(1000)
      .default(60_000)
      .describe("node-opcua's own reconnection running longer than this: the client is recreated"),
    intervalMs: deviceIntervalMs,
    reconnect: backoffSchema.prefault({}),
    tags: z.array(opcuaTagSchema).min(1),
  })
  .superRefine((device, ctx) => {
    const seen = new Map<string, number>();
    device.tags.forEach((tag, i) => {
      const first = seen.get(tag.name);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['tags', i, 'name'],
          message: `tag name "${tag.name}" is also used by tags[${first}]`,
        });
      else seen.set(tag.name, i);
    });
  });
export type OpcuaDeviceConfig = z.infer<typeof opcuaDeviceSchema>;
