/**
 * MQTT northbound forwarder: drains the outbox to an MQTT 5 broker, at least once.
 *
 * - The outbox is the only storage. mqtt.js never queues for us: we publish only while
 *   connected, keep our own bounded window of unacknowledged QoS 1 messages, disable
 *   its auto-reconnect (`reconnectPeriod: 0`) and reconnect ourselves with a fresh
 *   client after a capped, jittered backoff (core/backoff). `queueQoSZero: false`.
 * - A record is acked to the outbox only after the PUBACK (reason < 0x80) of the
 *   message carrying it. On any disconnect, everything unacked is dropped from memory
 *   and read again from the outbox after the reconnect (duplicates carry the same id).
 * - `clean: true`: we keep no broker session state. Resending comes from the outbox,
 *   and an mqtt.js session store would be RAM anyway (lost on restart); a persistent
 *   broker session would only make the broker hold state for a publisher.
 * - Drain policy 'interleave': at (re)connect the watermark is the outbox's last rowid;
 *   records ≤ watermark are the backlog lane (published with "replay": true), newer
 *   ones the live lane; free window slots alternate between the lanes so live data is
 *   not starved behind a long backlog. 'fifo': backlog lane first, then live.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import type { IClientOptions, IConnackPacket, MqttClient } from 'mqtt';
import type { MqttConfig } from '../../config/sections/mqtt.js';
import type { SecretRef } from '../../config/sections/common.js';
import { Backoff } from '../../core/backoff.js';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { EdgeError, type EdgeErrorCode } from '../../core/errors.js';
import type { Logger, OutboxSource } from '../../core/ports.js';
import {
  PayloadBuilder,
  onlineStatus,
  statusTopic,
  stoppedStatus,
  willStatus,
  type BuiltMessage,
} from './payload.js';

/** Resolves a secret reference (inline, env, file) to its value. `field` names it in errors. */
export type SecretResolver = (ref: SecretRef, field: string) => string;

export interface MqttForwarderDeps {
  readonly source: OutboxSource;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Uniform [0,1), for the reconnect jitter. */
  readonly random: () => number;
  readonly site: string;
  readonly agentId: string;
  readonly secrets: SecretResolver;
}

export interface MqttForwarderStats {
  readonly connected: boolean;
  /** Broker URL without credentials. */
  readonly url: string;
  readonly publishedRecords: number;
  readonly publishedMessages: number;
  readonly inflightMessages: number;
  readonly inflightRecords: number;
  readonly peakInflightMessages: number;
  /** In-flight window in use: min(inflightWindow, broker receive maximum - 1). */
  readonly window: number;
  readonly connectAttempts: number;
  /** Connections established after a lost one. */
  readonly reconnects: number;
  readonly lastPubackLatencyMs: number | null;
  readonly pubackLatencyMedianMs: number | null;
  readonly pubackLatencyEwmaMs: number | null;
  /** True while a backlog lane (records older than the connect watermark) is being replayed. */
  readonly backlogActive: boolean;
  /** Estimate (rowid distance) of outbox records not yet acknowledged by the broker. */
  readonly backlogRemaining: number;
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** "CODE: message" of the latest error, or null. */
  readonly lastError: string | null;
  readonly lastErrorCode: EdgeErrorCode | null;
  /** Epoch ms of the latest error. */
  readonly lastErrorAt: number | null;
}

export interface ConnectedInfo {
  readonly url: string;
  readonly window: number;
  readonly watermark: number;
}
export interface DisconnectedInfo {
  readonly reason: string;
}
export interface ReconnectScheduledInfo {
  readonly delayMs: number;
  readonly attempt: number;
}

export interface MqttForwarderEvents {
  connected: [ConnectedInfo];
  disconnected: [DisconnectedInfo];
  reconnectScheduled: [ReconnectScheduledInfo];
}

interface Lane {
  readonly name: 'backlog' | 'live';
  cursor: number;
  /** Exclusive upper bound (watermark + 1) for the backlog lane. */
  before: number | undefined;
  pending: BuiltMessage[];
  done: boolean;
}

interface Inflight {
  readonly msg: BuiltMessage;
  readonly lane: Lane;
  readonly sentAt: number;
}

const AUTH_REASON_CODES = new Set([4, 5, 134, 135]);
const READ_MAX_RECORDS = 20_000;
const READ_MAX_BYTES = 8 * 1024 * 1024;
const LATENCY_SAMPLES = 255;

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

export class MqttForwarder extends EventEmitter<MqttForwarderEvents> {
  private readonly log: Logger;
  private readonly builder: PayloadBuilder;
  private readonly backoff: Backoff;
  private readonly safeUrl: string;
  private readonly statusTopic: string;

  private running = false;
  private stopping = false;
  private client: MqttClient | undefined;
  private gen = 0;
  private connected = false;
  private everConnected = false;
  private resetBackoffOnConnect = true;
  private reconnectTimer: TimerHandle | undefined;
  private unsubscribe: (() => void) | undefined;
  private pumpQueued = false;
  private liveMaybe = true;
  private preferLive = true;
  private window = 1;
  private watermark = 0;
  private backlog: Lane = { name: 'backlog', cursor: 0, before: 1, pending: [], done: true };
  private live: Lane = { name: 'live', cursor: 0, before: undefined, pending: [], done: false };
  private readonly inflight = new Map<number, Inflight>();
  private msgSeq = 0;
  private drainWaiter: (() => void) | undefined;
  private stopPromise: Promise<void> | undefined;
  private ackBuffer: number[] = [];
  private ackImmediate: NodeJS.Immediate | undefined;

  // stats
  private publishedRecords = 0;
  private publishedMessages = 0;
  private inflightRecords = 0;
  private peakInflight = 0;
  private connectAttempts = 0;
  private reconnects = 0;
  private lastLatency: number | null = null;
  private ewma: number | null = null;
  private readonly latencies: number[] = [];
  private latencyIdx = 0;
  private readonly errors: Record<string, number> = {};
  private lastError: { code: EdgeErrorCode; message: string; at: number } | null = null;

  constructor(
    private readonly config: MqttConfig,
    private readonly deps: MqttForwarderDeps,
  ) {
    super();
    this.log = deps.logger;
    this.builder = new PayloadBuilder({
      topicPrefix: config.topicPrefix,
      site: deps.site,
      agentId: deps.agentId,
      maxRecords: config.batch.maxRecords,
      maxBytes: config.batch.maxBytes,
    });
    this.backoff = new Backoff(config.reconnect, deps.random);
    this.safeUrl = config.url ? redactUrl(config.url) : '';
    this.statusTopic = statusTopic(config.topicPrefix, deps.site);
  }

  /**
   * Starts connecting and draining. Resolves at once: a broker that is down is retried
   * with backoff. Rejects only on configuration errors (no url, unreadable TLS material
   * or an unresolvable secret).
   */
  async start(): Promise<void> {
    if (this.running) return;
    if (!this.config.url) throw new EdgeError('EDGE_ERR_CONFIG_INVALID', 'mqtt.url is not set', { context: { field: 'mqtt.url' } });
    this.clientOptions(); // fail fast on bad TLS material / secrets
    this.running = true;
    this.stopping = false;
    this.unsubscribe = this.deps.source.onCommit(() => {
      this.liveMaybe = true;
      this.schedulePump();
    });
    this.log.info({ url: this.safeUrl, clientId: this.clientId(), drain: this.config.drain }, 'mqtt forwarder starting');
    this.connect();
  }

  /**
   * Stops publishing, waits up to `timeoutMs` for in-flight PUBACKs, publishes the
   * retained offline status and closes the connection. No timers are left behind.
   */
  stop(timeoutMs = 3000): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.stopPromise ??= this.doStop(timeoutMs).finally(() => (this.stopPromise = undefined));
    return this.stopPromise;
  }

  private async doStop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.reconnectTimer?.cancel();
    this.reconnectTimer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    const deadline = this.deps.clock.monotonic() + timeoutMs;
    const remaining = (): number => Math.max(0, deadline - this.deps.clock.monotonic());

    if (this.connected && this.inflight.size > 0) {
      await this.within(remaining(), (done) => {
        this.drainWaiter = done;
      });
      this.drainWaiter = undefined;
    }
    const client = this.client;
    let graceful = false;
    if (client && this.connected) {
      graceful = await this.within(remaining(), (done) => {
        client.publish(this.statusTopic, stoppedStatus(this.deps.agentId, this.deps.site, this.deps.clock.now()), { qos: 1, retain: true }, (err) => {
          if (err) this.recordError('EDGE_ERR_MQTT_PUBLISH', `offline status: ${err.message}`);
          done();
        });
      });
      graceful = graceful && this.inflight.size === 0;
    }
    const wasConnected = this.connected;
    this.gen++;
    this.client = undefined;
    this.connected = false;
    this.clearInflight();
    this.flushAcks();
    if (client && graceful) {
      // DISCONNECT (reason 0): the broker discards the will; we published offline ourselves.
      const ended = await this.within(remaining() + 100, (done) => {
        client.end(false, {}, () => done());
      });
      if (!ended) client.end(true);
    } else if (client) {
      client.end(true);
    }
    this.running = false;
    this.stopping = false;
    if (wasConnected) this.emit('disconnected', { reason: 'stopped' });
    this.log.info({ publishedRecords: this.publishedRecords }, 'mqtt forwarder stopped');
  }

  stats(): MqttForwarderStats {
    let backlogRemaining = this.inflightRecords;
    for (const lane of [this.backlog, this.live]) for (const m of lane.pending) backlogRemaining += m.rowids.length;
    if (!this.backlog.done) backlogRemaining += Math.max(0, this.watermark - this.backlog.cursor);
    try {
      backlogRemaining += Math.max(0, this.deps.source.lastRowid() - Math.max(this.live.cursor, this.watermark));
    } catch {
      /* source closed */
    }
    let median: number | null = null;
    if (this.latencies.length > 0) {
      const sorted = [...this.latencies].sort((a, b) => a - b);
      median = sorted[Math.floor(sorted.length / 2)];
    }
    return {
      connected: this.connected,
      url: this.safeUrl,
      publishedRecords: this.publishedRecords,
      publishedMessages: this.publishedMessages,
      inflightMessages: this.inflight.size,
      inflightRecords: this.inflightRecords,
      peakInflightMessages: this.peakInflight,
      window: this.window,
      connectAttempts: this.connectAttempts,
      reconnects: this.reconnects,
      lastPubackLatencyMs: this.lastLatency,
      pubackLatencyMedianMs: median,
      pubackLatencyEwmaMs: this.ewma,
      backlogActive: this.connected && !this.backlog.done,
      backlogRemaining,
      errorsByCode: { ...this.errors },
      lastError: this.lastError ? `${this.lastError.code}: ${this.lastError.message}` : null,
      lastErrorCode: this.lastError?.code ?? null,
      lastErrorAt: this.lastError?.at ?? null,
    };
  }

  // ---------------------------------------------------------------- connection

  private clientId(): string {
    return this.config.clientId ?? `${this.deps.site}-${this.deps.agentId}`.slice(0, 128);
  }

  private clientOptions(): IClientOptions {
    const { config, deps } = this;
    const opts: IClientOptions = {
      protocolVersion: config.protocolVersion,
      // mqtt-packet otherwise pre-builds 65,536 two-byte Buffers (~7 MB of heap, mqtt-packet
      // #139); we send a few batched messages a second, so building them on demand is free.
      writeCache: false,
      clientId: this.clientId(),
      clean: true,
      keepalive: config.keepaliveSec,
      connectTimeout: config.connectTimeoutMs,
      reconnectPeriod: 0,
      queueQoSZero: false,
      resubscribe: false,
      will: { topic: this.statusTopic, payload: Buffer.from(willStatus(deps.agentId, deps.site)), qos: 1, retain: true },
    };
    if (config.username !== undefined) opts.username = config.username;
    if (config.password !== undefined) opts.password = deps.secrets(config.password, 'mqtt.password');
    const secure = /^(mqtts|tls|wss):/i.test(config.url ?? '');
    if (secure || config.tls) {
      const tls = config.tls;
      const load = (what: string, fn: () => string | Buffer): string | Buffer => {
        try {
          return fn();
        } catch (err) {
          if (err instanceof EdgeError) throw err;
          throw new EdgeError('EDGE_ERR_MQTT_TLS', `cannot load ${what}: ${(err as Error).message}`, {
            cause: err,
            context: { field: `mqtt.tls.${what}` },
          });
        }
      };
      Object.assign(opts, {
        minVersion: 'TLSv1.3',
        rejectUnauthorized: tls?.rejectUnauthorized ?? true,
      });
      if (tls?.ca) {
        const ca = tls.ca;
        opts.ca = load('ca', () => readFileSync(ca));
      }
      if (tls?.cert) {
        const cert = tls.cert;
        opts.cert = load('cert', () => readFileSync(cert));
      }
      if (tls?.key) {
        const key = tls.key;
        opts.key = load('key', () => {
          const value = deps.secrets(key, 'mqtt.tls.key');
          // {file}/{env} give the PEM itself; a plain string is taken as a path.
          return value.includes('-----BEGIN') ? value : readFileSync(value);
        });
      }
      if (tls?.servername) opts.servername = tls.servername;
    }
    return opts;
  }

  private connect(): void {
    if (!this.running || this.stopping) return;
    const gen = ++this.gen;
    this.connectAttempts++;
    let opts: IClientOptions;
    try {
      opts = this.clientOptions();
    } catch (err) {
      const e = err instanceof EdgeError ? err : new EdgeError('EDGE_ERR_MQTT_TLS', String(err));
      this.recordError(e.code, e.message);
      this.log.error({ err: e.toJSON() }, 'mqtt connection options cannot be built');
      this.scheduleReconnect();
      return;
    }
    this.log.debug({ url: this.safeUrl, attempt: this.connectAttempts }, 'mqtt connecting');
    let client: MqttClient;
    try {
      client = mqtt.connect(this.config.url as string, opts);
    } catch (err) {
      this.recordError('EDGE_ERR_MQTT_CONNECT', (err as Error).message);
      this.log.error({ code: 'EDGE_ERR_MQTT_CONNECT', url: this.safeUrl, reason: (err as Error).message }, 'mqtt client cannot be created');
      this.scheduleReconnect();
      return;
    }
    this.client = client;
    let lastError = '';
    client.on('connect', (connack) => this.onConnect(gen, client, connack));
    client.on('error', (err) => {
      lastError = err.message;
      if (gen === this.gen) this.onClientError(err);
    });
    client.on('close', () => this.onClose(gen, client, lastError));
  }

  private onConnect(gen: number, client: MqttClient, connack: IConnackPacket): void {
    if (gen !== this.gen) return;
    this.connected = true;
    if (this.everConnected) this.reconnects++;
    this.everConnected = true;
    if (this.resetBackoffOnConnect) this.backoff.reset();
    // The birth message is QoS 1 too: keep one slot of the broker's receive maximum for it.
    const receiveMaximum = connack.properties?.receiveMaximum;
    this.window = Math.max(1, Math.min(this.config.inflightWindow, receiveMaximum ? receiveMaximum - 1 : Infinity));
    this.watermark = this.deps.source.lastRowid();
    this.backlog = { name: 'backlog', cursor: 0, before: this.watermark + 1, pending: [], done: this.watermark === 0 };
    this.live = { name: 'live', cursor: this.watermark, before: undefined, pending: [], done: false };
    this.liveMaybe = true;
    this.preferLive = true;
    client.publish(this.statusTopic, onlineStatus(this.deps.agentId, this.deps.site, this.deps.clock.now()), { qos: 1, retain: true }, (err) => {
      if (err && gen === this.gen) this.recordError('EDGE_ERR_MQTT_PUBLISH', `online status: ${err.message}`);
    });
    this.log.info({ url: this.safeUrl, window: this.window, watermark: this.watermark }, 'mqtt connected');
    this.emit('connected', { url: this.safeUrl, window: this.window, watermark: this.watermark });
    this.pump();
  }

  private onClientError(err: Error & { code?: unknown }): void {
    const rc = typeof err.code === 'number' ? err.code : undefined;
    const code: EdgeErrorCode = rc !== undefined && AUTH_REASON_CODES.has(rc) ? 'EDGE_ERR_MQTT_AUTH' : 'EDGE_ERR_MQTT_CONNECT';
    this.recordError(code, err.message);
    const entry = { code, url: this.safeUrl, reason: err.message, ...(rc !== undefined ? { reasonCode: rc } : {}) };
    if (code === 'EDGE_ERR_MQTT_AUTH') this.log.error(entry, 'mqtt broker refused the credentials');
    else this.log.warn(entry, 'mqtt connection error');
  }

  private onClose(gen: number, client: MqttClient, reason: string): void {
    if (gen !== this.gen) return;
    this.gen++; // late callbacks of this connection are ignored from here on
    this.client = undefined;
    const wasConnected = this.connected;
    this.connected = false;
    this.clearInflight();
    this.flushAcks(); // PUBACKed before the loss: ack them before anything is re-read
    client.end(true);
    if (wasConnected) {
      this.log.warn({ url: this.safeUrl, reason: reason || 'connection closed' }, 'mqtt disconnected');
      this.emit('disconnected', { reason: reason || 'connection closed' });
    }
    if (this.stopping) {
      this.drainWaiter?.();
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.running || this.stopping || this.reconnectTimer) return;
    const delayMs = this.backoff.next();
    const attempt = this.backoff.attempts;
    this.log.debug({ delayMs, attempt }, 'mqtt reconnect scheduled');
    this.reconnectTimer = this.deps.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, delayMs);
    this.emit('reconnectScheduled', { delayMs, attempt });
  }

  /** Forces a reconnect (after a rejected publish): everything unacked is re-read later. */
  private recycle(): void {
    const client = this.client;
    if (!client) return;
    this.resetBackoffOnConnect = false; // grow the backoff until a publish succeeds
    client.end(true); // 'close' follows and schedules the reconnect
  }

  private clearInflight(): void {
    this.inflight.clear();
    this.inflightRecords = 0;
    this.backlog.pending = [];
    this.live.pending = [];
  }

  // ---------------------------------------------------------------- publishing

  private schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** Fills free window slots; runs on connect, on PUBACK and after outbox commits. */
  private pump(): void {
    if (!this.connected || this.stopping || !this.client) return;
    const client = this.client;
    const gen = this.gen;
    try {
      while (this.inflight.size < this.window) {
        const lane = this.pickLane();
        if (!lane) break;
        const msg = lane.pending.shift() as BuiltMessage;
        const id = ++this.msgSeq;
        this.inflight.set(id, { msg, lane, sentAt: this.deps.clock.monotonic() });
        this.inflightRecords += msg.rowids.length;
        if (this.inflight.size > this.peakInflight) this.peakInflight = this.inflight.size;
        client.publish(msg.topic, msg.payload, { qos: 1 }, (err, packet) => this.onPuback(gen, id, err, packet));
        if (gen !== this.gen) return; // publish failed synchronously and closed the connection
      }
    } catch (err) {
      this.recordError('EDGE_ERR_MQTT_PUBLISH', `drain: ${(err as Error).message}`);
      this.log.error({ err: (err as Error).message }, 'mqtt drain failed; reconnecting');
      this.recycle();
    }
  }

  private pickLane(): Lane | undefined {
    if (this.config.drain === 'fifo') {
      if (this.fill(this.backlog)) return this.backlog;
      if (!this.backlog.done) return undefined;
      return this.fill(this.live) ? this.live : undefined;
    }
    const order = this.preferLive ? [this.live, this.backlog] : [this.backlog, this.live];
    for (const lane of order) {
      if (this.fill(lane)) {
        this.preferLive = lane === this.backlog;
        return lane;
      }
    }
    return undefined;
  }

  /** True when the lane has a message ready, reading the next chunk if needed. */
  private fill(lane: Lane): boolean {
    if (lane.pending.length > 0) return true;
    if (lane.done) return false;
    if (lane === this.live && !this.liveMaybe) return false;
    // Read a whole window's worth at once, so that with many devices interleaved in
    // rowid order each device's group still fills its messages (bounded: READ_MAX_*).
    const { maxRecords, maxBytes } = this.config.batch;
    const limit = Math.min(maxRecords * this.window, Math.max(maxRecords, READ_MAX_RECORDS));
    const bytes = Math.min(maxBytes * this.window, Math.max(maxBytes, READ_MAX_BYTES));
    const records = this.deps.source.read(lane.cursor, limit, bytes, lane.before);
    if (records.length === 0) {
      if (lane === this.backlog) {
        lane.done = true;
        this.log.info({ watermark: this.watermark }, 'mqtt backlog replay read complete');
      } else this.liveMaybe = false;
      return false;
    }
    lane.cursor = records[records.length - 1].rowid;
    lane.pending = this.builder.build(records, lane === this.backlog);
    return true;
  }

  private onPuback(gen: number, id: number, err: Error | undefined, packet: unknown): void {
    if (gen !== this.gen) return;
    const entry = this.inflight.get(id);
    if (!entry) return;
    this.inflight.delete(id);
    this.inflightRecords -= entry.msg.rowids.length;
    const rc = (packet as { reasonCode?: number } | undefined)?.reasonCode;
    if (err || (rc !== undefined && rc >= 0x80)) {
      const message = err?.message ?? `PUBACK reason code 0x${(rc as number).toString(16)}`;
      this.recordError('EDGE_ERR_MQTT_PUBLISH', message);
      this.log.warn({ code: 'EDGE_ERR_MQTT_PUBLISH', topic: entry.msg.topic, reason: message, ...(rc !== undefined ? { reasonCode: rc } : {}) }, 'mqtt publish rejected; reconnecting to resend');
      this.recycle();
      return;
    }
    const latency = this.deps.clock.monotonic() - entry.sentAt;
    this.lastLatency = latency;
    this.ewma = this.ewma === null ? latency : this.ewma + 0.1 * (latency - this.ewma);
    if (this.latencies.length < LATENCY_SAMPLES) this.latencies.push(latency);
    else this.latencies[this.latencyIdx++ % LATENCY_SAMPLES] = latency;
    // PUBACKed: ack to the outbox. PUBACKs arriving together are merged into one ack()
    // (one transaction, contiguous rowid ranges) on the next turn of the event loop.
    for (const rowid of entry.msg.rowids) this.ackBuffer.push(rowid);
    if (!this.ackImmediate) this.ackImmediate = setImmediate(() => this.flushAcks());
    this.publishedRecords += entry.msg.rowids.length;
    this.publishedMessages++;
    if (!this.resetBackoffOnConnect) {
      this.resetBackoffOnConnect = true;
      this.backoff.reset();
    }
    if (this.stopping) {
      if (this.inflight.size === 0) this.drainWaiter?.();
      return;
    }
    this.pump();
  }

  /** Acks every PUBACKed rowid not yet acked to the outbox. */
  private flushAcks(): void {
    if (this.ackImmediate) clearImmediate(this.ackImmediate);
    this.ackImmediate = undefined;
    if (this.ackBuffer.length === 0) return;
    const rowids = this.ackBuffer;
    this.ackBuffer = [];
    try {
      this.deps.source.ack(rowids);
    } catch (e) {
      this.recordError('EDGE_ERR_MQTT_PUBLISH', `ack to outbox failed: ${(e as Error).message}`);
      this.log.error({ err: (e as Error).message }, 'outbox ack failed; records will be sent again');
    }
  }

  // ---------------------------------------------------------------- helpers

  private recordError(code: EdgeErrorCode, message: string): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
    this.lastError = { code, message, at: this.deps.clock.now() };
  }

  /** Runs `fn(done)`; true when done() came before the deadline. */
  private within(ms: number, fn: (done: () => void) => void): Promise<boolean> {
    return new Promise((resolve) => {
      let settled = false;
      const timer = this.deps.clock.setTimeout(() => {
        if (settled) return;
        settled = true;
        resolve(false);
      }, ms);
      fn(() => {
        if (settled) return;
        settled = true;
        timer.cancel();
        resolve(true);
      });
    });
  }
}
