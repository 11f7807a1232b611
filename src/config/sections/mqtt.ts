import { z } from 'zod';
import { backoffSchemaWith, keyRefSchema, secretRefSchema, topicSegment } from '../../config-kit/common.js';

const mqttTlsSchema = z.strictObject({
  ca: z
    .string()
    .min(1)
    .optional()
    .describe('PEM file of the CA(s) to pin; the system store is not used when set'),
  cert: z.string().min(1).optional().describe('Client certificate PEM file'),
  key: keyRefSchema
    .optional()
    .describe('Client private key: {file: path} or {env: VAR}; resolve with the secret resolver'),
  servername: z.string().optional(),
  rejectUnauthorized: z.boolean().default(true),
});

const sparkplugSchema = z.strictObject({
  groupId: topicSegment
    .optional()
    .describe('Sparkplug group id (topic spBv1.0/<groupId>/…); default: agent.site'),
  edgeNodeId: topicSegment.optional().describe('Sparkplug edge node id; default: agent.id'),
  primaryHostId: topicSegment
    .optional()
    .describe(
      'The primary host application: while its STATE (spBv1.0/STATE/<id>) is offline, data stays in the outbox and is sent later as historical. Absent: publish whenever connected',
    ),
  bdSeqFile: z
    .string()
    .min(1)
    .optional()
    .describe('Where bdSeq is kept across restarts; default: sparkplug-bdseq.json beside store.path'),
});

/** Schemes that carry credentials, telemetry and commands in clear text. */
export const PLAINTEXT_MQTT_SCHEMES: readonly string[] = ['mqtt', 'tcp', 'ws'];

export const mqttSchema = z
  .strictObject({
    url: z
      .string()
      .regex(/^(mqtt|mqtts|tcp|tls|ws|wss):\/\/[^\s]+$/, 'expected mqtt://host:port or mqtts://host:port')
      .optional()
      .describe(
        'Broker URL. mqtts:// and tls:// connect over TLS, wss:// over TLS WebSockets; mqtt://, tcp:// and ws:// also use TLS when tls.cert and tls.key are set. Absent: the agent stores and forwards nothing upstream (demo starts an embedded broker).',
      ),
    clientId: z.string().min(1).max(128).optional(),
    protocolVersion: z
      .union([z.literal(5), z.literal(4)])
      .default(5)
      .describe(
        '5 = MQTT 5 (reason codes on PUBACK); 4 = MQTT 3.1.1 for brokers without v5 (e.g. the embedded demo broker)',
      ),
    topicPrefix: topicSegment.default('edge'),
    username: z.string().optional(),
    password: secretRefSchema.optional(),
    tls: mqttTlsSchema.optional(),
    keepaliveSec: z.number().int().min(5).max(3600).default(30),
    connectTimeoutMs: z.number().int().positive().default(10_000),
    inflightWindow: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(32)
      .describe('Unacknowledged QoS 1 messages at once'),
    batch: z
      .strictObject({
        maxRecords: z.number().int().min(1).max(10_000).default(200),
        maxBytes: z
          .number()
          .int()
          .min(1024)
          .max(10 * 1024 * 1024)
          .default(128 * 1024),
      })
      .prefault({}),
    payload: z
      .strictObject({
        format: z
          .enum(['json', 'compact', 'sparkplug'])
          .default('json')
          .describe(
            'json: one object per record (docs/mqtt-payload.md); compact: tag names and the id prefix once per message, seq and ts as deltas (content type application/vnd.edge-agent.compact+json); sparkplug: a Sparkplug B 3.0 edge node (docs/sparkplug.md, settings in mqtt.sparkplug)',
          ),
        compression: z
          .enum(['none', 'deflate', 'brotli'])
          .default('none')
          .describe(
            'Compress each message (node:zlib); announced by the MQTT 5 user property content-encoding (deflate | br). Needs protocolVersion 5',
          ),
      })
      .prefault({})
      .describe('Upstream payload format: bytes matter on cellular links'),
    sparkplug: sparkplugSchema
      .prefault({})
      .describe('Sparkplug B identity, used with payload.format sparkplug'),
    drain: z
      .enum(['interleave', 'fifo'])
      .default('interleave')
      .describe(
        'interleave: live records share the window with the backlog after an outage; fifo: strictly oldest first',
      ),
    reconnect: backoffSchemaWith({ maxMs: 30_000 }).prefault({}),
    allowInsecure: z
      .boolean()
      .default(false)
      .describe(
        'Allow a plaintext broker URL (mqtt://, tcp://, ws://): credentials and commands travel unencrypted. Only for a broker on the same host or a lab',
      ),
    maxPacketBytes: z
      .number()
      .int()
      .min(4096)
      .max(16 * 1024 * 1024)
      .default(262_144)
      .describe(
        'Largest MQTT packet accepted from the broker (MQTT 5 maximum packet size; checked on every packet header as well): a larger one drops the connection before its body is buffered',
      ),
  })
  .superRefine((mqtt, ctx) => {
    if (mqtt.payload.format === 'sparkplug' && mqtt.payload.compression !== 'none')
      ctx.addIssue({
        code: 'custom',
        path: ['payload', 'compression'],
        message: 'Sparkplug B payloads are protobuf, read by hosts as they are: compression must be none',
      });
    if (mqtt.payload.compression !== 'none' && mqtt.protocolVersion !== 5)
      ctx.addIssue({
        code: 'custom',
        path: ['payload', 'compression'],
        message: 'compression is announced by an MQTT 5 user property: it needs protocolVersion 5',
      });
    const scheme = /^([a-z]+):/i.exec(mqtt.url ?? '')?.[1]?.toLowerCase();
    if (scheme !== undefined && PLAINTEXT_MQTT_SCHEMES.includes(scheme) && !mqtt.allowInsecure)
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: `${scheme}:// is plaintext (credentials, telemetry and commands readable and forgeable on the path): use mqtts:// or wss://, or set mqtt.allowInsecure: true`,
      });
  });
export type MqttConfig = z.infer<typeof mqttSchema>;
