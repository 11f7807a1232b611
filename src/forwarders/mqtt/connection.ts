/**
 * Connection plumbing of the MQTT forwarder: mqtt.js client options (credentials, TLS
 * material, retained will), client id, URL redaction and CONNACK error classification.
 */
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { MqttConfig } from '../../config/sections/mqtt.js';
import { EdgeError, type EdgeErrorCode } from '../../core/errors.js';
import type { Logger } from '../../core/ports.js';
import { willStatus } from './payload.js';
import type { SecretResolver } from './types.js';
import type { WireMessage } from './uplink.js';

/** MQTT reason codes that mean "bad credentials / not authorised". */
const AUTH_REASON_CODES = new Set([4, 5, 134, 135]);

/** What buildClientOptions needs besides the config. */
export interface ClientIdentity {
  readonly site: string;
  readonly agentId: string;
  readonly secrets: SecretResolver;
  readonly statusTopic: string;
  /** Replaces the retained offline status as the will (Sparkplug: NDEATH). */
  readonly will?: WireMessage | undefined;
}

/** The URL for logs and stats: no user info. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

export function clientIdFor(config: MqttConfig, site: string, agentId: string): string {
  return config.clientId ?? `${site}-${agentId}`.slice(0, 128);
}

const noLog = (): void => undefined;

function mqttDebugWanted(): boolean {
  return /mqttjs/.test(process.env.DEBUG ?? '');
}

/**
 * mqtt.js options: no auto-reconnect, no QoS 0 queue, clean session, retained will.
 * Throws EdgeError (EDGE_ERR_MQTT_TLS or the resolver's) on unreadable TLS material or secrets.
 */
export function buildClientOptions(config: MqttConfig, id: ClientIdentity): IClientOptions {
  const opts: IClientOptions = {
    protocolVersion: config.protocolVersion,
    // mqtt-packet otherwise pre-builds 65,536 two-byte Buffers (~7 MB of heap, mqtt-packet
    // #139); we send a few batched messages a second, so building them on demand is free.
    writeCache: false,
    clientId: clientIdFor(config, id.site, id.agentId),
    clean: true,
    // MQTT 5: the broker must not send us anything larger (MQTT 3.1.1: packet-guard.ts).
    ...(config.protocolVersion === 5 ? { properties: { maximumPacketSize: config.maxPacketBytes } } : {}),
    keepalive: config.keepaliveSec,
    connectTimeout: config.connectTimeoutMs,
    reconnectPeriod: 0,
    queueQoSZero: false,
    resubscribe: false,
    // mqtt.js's debug calls cost an argument array and a check per call, about twenty per
    // message (4 % of the agent's allocations); DEBUG=mqttjs* still turns them on.
    ...(mqttDebugWanted() ? {} : { log: noLog }),
    will: id.will
      ? { ...id.will, payload: Buffer.from(id.will.payload) }
      : {
          topic: id.statusTopic,
          payload: Buffer.from(willStatus(id.agentId, id.site)),
          qos: 1,
          retain: true,
        },
  };
  if (config.username !== undefined) opts.username = config.username;
  if (config.password !== undefined) opts.password = id.secrets(config.password, 'mqtt.password');
  const secure = /^(mqtts|tls|wss):/i.test(config.url ?? '');
  if (secure || config.tls) addTlsOptions(opts, config, id.secrets);
  return opts;
}

function loadTls(what: string, fn: () => string | Buffer): string | Buffer {
  try {
    return fn();
  } catch (err) {
    if (err instanceof EdgeError) throw err;
    throw new EdgeError('EDGE_ERR_MQTT_TLS', `cannot load ${what}: ${(err as Error).message}`, {
      cause: err,
      context: { field: `mqtt.tls.${what}` },
    });
  }
}

function addTlsOptions(opts: IClientOptions, config: MqttConfig, secrets: SecretResolver): void {
  const tls = config.tls;
  Object.assign(opts, {
    minVersion: 'TLSv1.3',
    rejectUnauthorized: tls?.rejectUnauthorized ?? true,
  });
  if (tls?.ca) {
    const ca = tls.ca;
    opts.ca = loadTls('ca', () => readFileSync(ca));
  }
  if (tls?.cert) {
    const cert = tls.cert;
    opts.cert = loadTls('cert', () => readFileSync(cert));
  }
  if (tls?.key) {
    const key = tls.key;
    opts.key = loadTls('key', () => {
      const value = secrets(key, 'mqtt.tls.key');
      // {file}/{env} give the PEM itself; a plain string is taken as a path.
      return value.includes('-----BEGIN') ? value : readFileSync(value);
    });
  }
  if (tls?.servername) opts.servername = tls.servername;
}

export interface ClassifiedClientError {
  readonly code: EdgeErrorCode;
  /** The MQTT reason code, when the error carries one. */
  readonly reasonCode: number | undefined;
}

/** Maps an mqtt.js client error to AUTH (refused credentials) or CONNECT. */
export function classifyClientError(err: Error & { code?: unknown }): ClassifiedClientError {
  const rc = typeof err.code === 'number' ? err.code : undefined;
  const code: EdgeErrorCode =
    rc !== undefined && AUTH_REASON_CODES.has(rc) ? 'EDGE_ERR_MQTT_AUTH' : 'EDGE_ERR_MQTT_CONNECT';
  return { code, reasonCode: rc };
}

/** Classifies and logs a client error (AUTH as an error, the rest as warnings); returns its code. */
export function logClientError(log: Logger, url: string, err: Error & { code?: unknown }): EdgeErrorCode {
  const { code, reasonCode } = classifyClientError(err);
  const entry = { code, url, reason: err.message, ...(reasonCode !== undefined ? { reasonCode } : {}) };
  if (code === 'EDGE_ERR_MQTT_AUTH') log.error(entry, 'mqtt broker refused the credentials');
  else log.warn(entry, 'mqtt connection error');
  return code;
}
