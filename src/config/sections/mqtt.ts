import { z } from 'zod';
import { backoffSchema, keyRefSchema, secretRefSchema, topicSegment } from './common.js';

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

export const mqttSchema = z.strictObject({
  url: z
    .string()
    .regex(/^(mqtt|mqtts|tcp|tls|ws|wss):\/\/[^\s]+$/, 'expected mqtt://host:port or mqtts://host:port')
    .optional()
    .describe(
      'Broker URL. Absent: the agent stores and forwards nothing upstream (demo starts an embedded broker).',
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
  drain: z
    .enum(['interleave', 'fifo'])
    .default('interleave')
    .describe(
      'interleave: live records share the window with the backlog after an outage; fifo: strictly oldest first',
    ),
  reconnect: backoffSchema.prefault({ initialMs: 1000, maxMs: 30_000 }),
});
export type MqttConfig = z.infer<typeof mqttSchema>;
