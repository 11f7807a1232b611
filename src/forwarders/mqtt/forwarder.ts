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
 *
 * Modules: connection.ts (client options, TLS, error classification), reconnect.ts
 * (backoff timer, bounded waits), drain-window.ts (lanes and in-flight window, no I/O),
 * drain-pump.ts (the drain over one connection: publishing, prefetch, PUBACKs),
 * chunk-reader.ts (backlog and large live chunks read and built in a worker, with
 * `readerFile`), stats.ts
 * (counters, latency, errors), payload.ts (topics and payloads), outbox-acks.ts (PUBACKed
 * rowids acked to the outbox in batches), window-size.ts (window by latency and bytes).
 * The drain is a pipeline: after each pump the next chunk is read and built in a turn of
 * its own, so PUBACK handling only takes built messages and buffers acks.
 */
import { EventEmitter } from 'node:events';
import type { IClientOptions, IConnackPacket, MqttClient } from 'mqtt';
import type { MqttConfig } from '../../config/sections/mqtt.js';
import type { Clock } from '../../core/clock.js';
import { EdgeError, type EdgeErrorCode } from '../../core/errors.js';
import type { Logger } from '../../core/ports.js';
import { MqttCommandChannel } from './commands.js';
import { buildClientOptions, clientIdFor, logClientError, redactUrl } from './connection.js';
import { ChunkReader } from './chunk-reader.js';
import { createMqttClient } from './client-factory.js';
import { DrainPump } from './drain-pump.js';
import { DrainWindow } from './drain-window.js';
import { guardClient } from './packet-guard.js';
import { onlineStatus, PayloadBuilder, payloadOptions, statusTopic } from './payload.js';
import { ReconnectScheduler, within } from './reconnect.js';
import { ForwarderMetrics, forwarderStats } from './stats.js';
import type { MqttForwarderDeps, MqttForwarderEvents, MqttForwarderStats } from './types.js';
import { announce, goodbye, type StatusIdentity } from './uplink.js';

export { redactUrl } from './connection.js';
export type {
  ConnectedInfo,
  DisconnectedInfo,
  MqttForwarderDeps,
  MqttForwarderEvents,
  MqttForwarderStats,
  ReconnectScheduledInfo,
  SecretResolver,
} from './types.js';

export class MqttForwarder extends EventEmitter<MqttForwarderEvents> {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly reconnect: ReconnectScheduler;
  private readonly win: DrainWindow;
  private readonly metrics = new ForwarderMetrics();
  private readonly safeUrl: string;
  private readonly statusTopic: string;
  /** Subscriptions and direct publishes (commands and their results) on this connection. */
  readonly commands: MqttCommandChannel;

  private running = false;
  private stopping = false;
  private client: MqttClient | undefined;
  private gen = 0;
  private connected = false;
  /** Connections dropped because the broker announced an oversized packet. */
  private oversized = 0;
  private everConnected = false;
  private unsubscribe: (() => void) | undefined;
  private stopPromise: Promise<void> | undefined;
  private readonly pump: DrainPump;
  private readonly reader: ChunkReader | undefined;

  constructor(
    private readonly config: MqttConfig,
    private readonly deps: MqttForwarderDeps,
  ) {
    super();
    this.log = deps.logger;
    this.clock = deps.clock;
    const builderOptions = payloadOptions(config, deps.site, deps.agentId);
    const builder = new PayloadBuilder(builderOptions);
    // An uplink builds with its own session state: only the plain builder moves to the worker.
    if (deps.readerFile && !deps.uplink)
      this.reader = new ChunkReader(deps.readerFile, builderOptions, { clock: deps.clock });
    this.win = new DrainWindow({
      drain: config.drain,
      batch: config.batch,
      read: (after, limit, maxBytes, before) => deps.source.read(after, limit, maxBytes, before),
      build: (records, replay) => (deps.uplink ?? builder).build(records, replay),
      onBacklogRead: (watermark) => this.log.info({ watermark }, 'mqtt backlog replay read complete'),
      fetch: (req) => this.reader?.readOffLoop(req, deps.source.lastRowid()),
      onChunk: () => this.pump.schedule(),
      onChunkError: (e) => this.pump.chunkFailed(e, this.reader?.broken === true),
      onDropped: (rowids) => deps.source.unsent?.(rowids),
    });
    this.reconnect = new ReconnectScheduler(config.reconnect, deps.random, deps.clock);
    this.safeUrl = config.url ? redactUrl(config.url) : '';
    this.statusTopic = statusTopic(config.topicPrefix, deps.site);
    this.commands = new MqttCommandChannel(`${config.topicPrefix}/${deps.site}`, deps.logger);
    this.pump = new DrainPump({
      win: this.win,
      source: deps.source,
      clock: deps.clock,
      log: deps.logger,
      metrics: this.metrics,
      uplink: deps.uplink,
      properties: config.protocolVersion === 5,
      recordError: (code, message) => this.recordError(code, message),
      recycle: () => this.recycle(),
      published: () => this.reconnect.publishAcked(),
    });
  }

  /**
   * Starts connecting and draining. Resolves at once: a broker that is down is retried
   * with backoff. Rejects only on configuration errors (no url, unreadable TLS material
   * or an unresolvable secret).
   */
  async start(): Promise<void> {
    if (this.running) return;
    if (!this.config.url)
      throw new EdgeError('EDGE_ERR_CONFIG_INVALID', 'mqtt.url is not set', {
        context: { field: 'mqtt.url' },
      });
    this.clientOptions(); // fail fast on bad TLS material / secrets
    this.running = true;
    this.stopping = false;
    let evictions = this.deps.source.evictions?.() ?? 0;
    this.unsubscribe = this.deps.source.onCommit(() => {
      const now = this.deps.source.evictions?.() ?? 0;
      if (now !== evictions) this.win.evicted(); // what was read but not sent may be booked lost
      evictions = now;
      this.win.notifyCommit();
      this.pump.schedule();
    });
    const clientId = clientIdFor(this.config, this.deps.site, this.deps.agentId);
    this.log.info({ url: this.safeUrl, clientId, drain: this.config.drain }, 'mqtt forwarder starting');
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
    this.pump.stop();
    this.reconnect.cancel();
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    const deadline = this.clock.monotonic() + timeoutMs;
    const remaining = (): number => Math.max(0, deadline - this.clock.monotonic());

    if (this.connected && this.win.inflightMessages > 0) {
      await within(this.clock, remaining(), (done) => this.pump.whenIdle(done));
      this.pump.whenIdle(undefined);
    }
    const client = this.client;
    const graceful = client && this.connected ? await this.publishStopped(client, remaining()) : false;
    const wasConnected = this.connected;
    this.dropConnection();
    if (client && graceful) {
      // DISCONNECT (reason 0): the broker discards the will; we published offline ourselves.
      const ended = await within(this.clock, remaining() + 100, (done) => {
        client.end(false, {}, () => done());
      });
      if (!ended) client.end(true);
    } else if (client) {
      client.end(true);
    }
    await this.reader?.close();
    this.running = false;
    this.stopping = false;
    if (wasConnected) this.emit('disconnected', { reason: 'stopped' });
    this.log.info({ publishedRecords: this.metrics.publishedRecords }, 'mqtt forwarder stopped');
  }

  /** Publishes the retained offline status; true when PUBACKed in time with nothing else in flight. */
  private async publishStopped(client: MqttClient, timeoutMs: number): Promise<boolean> {
    const bye = goodbye(this.deps.uplink, this.status(), this.clock.now());
    const acked = await within(this.clock, timeoutMs, (done) => {
      client.publish(bye.topic, bye.payload, { qos: 1, retain: bye.retain }, (err) => {
        if (err) this.recordError('EDGE_ERR_MQTT_PUBLISH', `offline status: ${err.message}`);
        done();
      });
    });
    return acked && this.win.inflightMessages === 0;
  }

  get publishedRecords(): number {
    return this.metrics.publishedRecords;
  }

  stats(): MqttForwarderStats {
    let lastRowid: number | undefined;
    try {
      lastRowid = this.deps.source.lastRowid();
    } catch {
      /* source closed */
    }
    return forwarderStats(this.win, this.metrics.snapshot(), lastRowid, {
      connected: this.connected,
      url: this.safeUrl,
      oversizedDropped: this.oversized,
    });
  }

  // ---------------------------------------------------------------- connection

  private clientOptions(): IClientOptions {
    const { site, agentId, secrets } = this.deps;
    const will = this.deps.uplink?.will();
    return buildClientOptions(this.config, { site, agentId, secrets, statusTopic: this.statusTopic, will });
  }

  private connect(): void {
    if (!this.running || this.stopping) return;
    const gen = ++this.gen;
    this.metrics.connectAttempts++;
    let opts: IClientOptions;
    try {
      this.deps.uplink?.nextSession(); // Sparkplug: this connection's bdSeq, in its will
      opts = this.clientOptions();
    } catch (err) {
      const e = err instanceof EdgeError ? err : new EdgeError('EDGE_ERR_MQTT_TLS', String(err));
      this.recordError(e.code, e.message);
      this.log.error({ err: e.toJSON() }, 'mqtt connection options cannot be built');
      this.scheduleReconnect();
      return;
    }
    this.log.debug({ url: this.safeUrl, attempt: this.metrics.connectAttempts }, 'mqtt connecting');
    let client: MqttClient;
    try {
      // manualConnect: the inbound size guard must wrap the socket before the first byte.
      client = createMqttClient(this.config.url as string, { ...opts, manualConnect: true });
      this.guardInbound(client, gen);
    } catch (err) {
      this.recordError('EDGE_ERR_MQTT_CONNECT', (err as Error).message);
      this.log.error(
        { code: 'EDGE_ERR_MQTT_CONNECT', url: this.safeUrl, reason: (err as Error).message },
        'mqtt client cannot be created',
      );
      this.scheduleReconnect();
      return;
    }
    this.client = client;
    let lastError = '';
    client.on('connect', (connack) => this.onConnect(gen, client, connack));
    client.on('error', (err) => {
      lastError = err.message;
      if (gen === this.gen) this.recordError(logClientError(this.log, this.safeUrl, err), err.message);
    });
    client.on('close', () => this.onClose(gen, client, lastError));
    client.connect();
  }

  /** Drops the connection when the broker announces a packet over mqtt.maxPacketBytes. */
  private guardInbound(client: MqttClient, gen: number): void {
    const max = this.config.maxPacketBytes;
    guardClient(client, max, (packet) => {
      if (gen !== this.gen) return;
      this.oversized++;
      const message = `broker sent a ${packet.bytes}-byte packet (type ${packet.type}), over mqtt.maxPacketBytes ${max}: connection dropped before buffering it`;
      this.recordError('EDGE_ERR_MQTT_OVERSIZED', message);
      this.log.error({ code: 'EDGE_ERR_MQTT_OVERSIZED', bytes: packet.bytes, type: packet.type }, message);
    });
  }

  private onConnect(gen: number, client: MqttClient, connack: IConnackPacket): void {
    if (gen !== this.gen) return;
    this.connected = true;
    if (this.everConnected) this.metrics.reconnects++;
    this.everConnected = true;
    this.reconnect.connected();
    // The birth message is QoS 1 too: keep one slot of the broker's receive maximum for it.
    const receiveMaximum = connack.properties?.receiveMaximum;
    const window = Math.max(
      1,
      Math.min(this.config.inflightWindow, receiveMaximum ? receiveMaximum - 1 : Infinity),
    );
    const watermark = this.deps.source.lastRowid();
    this.win.reset(watermark, window);
    announce(client, this.deps.uplink, this.status(), this.clock.now(), {
      restart: () => this.restartDrain(gen),
      end: () => {
        if (gen === this.gen) client.end(false); // 'close' follows: the usual reconnect
      },
      onError: (err) => {
        if (gen === this.gen) this.recordError('EDGE_ERR_MQTT_PUBLISH', `online status: ${err.message}`);
      },
    });
    this.commands.attach(client);
    this.log.info({ url: this.safeUrl, window, watermark }, 'mqtt connected');
    this.emit('connected', { url: this.safeUrl, window, watermark });
    this.pump.attach(client);
  }

  /**
   * The retained online status again, on the open connection (the active config changed
   * without a reconnect: a live reload). An uplink's births are its own; while disconnected
   * the next CONNACK announces the new status anyway.
   */
  announceStatus(): void {
    const client = this.client;
    if (this.deps.uplink) return void (this.connected ? this.deps.uplink.configChanged?.() : undefined);
    if (!this.connected || !client) return;
    const gen = this.gen;
    const status = this.status();
    client.publish(
      status.topic,
      onlineStatus(status.agent, status.site, this.clock.now(), status.config),
      { qos: 1, retain: true },
      (err) => {
        if (err && gen === this.gen)
          this.recordError('EDGE_ERR_MQTT_PUBLISH', `online status: ${err.message}`);
      },
    );
  }

  private status(): StatusIdentity {
    return {
      topic: this.statusTopic,
      agent: this.deps.agentId,
      site: this.deps.site,
      config: this.deps.config?.(),
    };
  }

  /** The uplink's session starts over (Sparkplug: primary host back online): all unacked is re-read as backlog. */
  private restartDrain(gen: number): void {
    if (gen !== this.gen) return;
    this.win.clear();
    this.win.reset(this.deps.source.lastRowid(), this.win.window);
    this.pump.schedule();
  }

  private onClose(gen: number, client: MqttClient, reason: string): void {
    if (gen !== this.gen) return;
    const wasConnected = this.connected;
    this.dropConnection();
    client.end(true);
    if (wasConnected) {
      this.log.warn({ url: this.safeUrl, reason: reason || 'connection closed' }, 'mqtt disconnected');
      this.emit('disconnected', { reason: reason || 'connection closed' });
    }
    if (this.stopping) {
      this.pump.release();
      return;
    }
    this.scheduleReconnect();
  }

  /**
   * Forgets the current client: its late callbacks are ignored from here on, everything
   * unacked is dropped (to be re-read), and what was PUBACKed is acked to the outbox first.
   */
  private dropConnection(): void {
    this.gen++;
    this.commands.detach();
    this.deps.uplink?.onDisconnect();
    this.client = undefined;
    this.connected = false;
    this.pump.detach();
  }

  private scheduleReconnect(): void {
    if (!this.running || this.stopping) return;
    const info = this.reconnect.schedule(() => this.connect());
    if (!info) return;
    this.log.debug({ ...info }, 'mqtt reconnect scheduled');
    this.emit('reconnectScheduled', info);
  }

  /** Forces a reconnect (after a rejected publish): everything unacked is re-read later. */
  private recycle(): void {
    const client = this.client;
    if (!client) return;
    this.reconnect.publishRejected(); // grow the backoff until a publish succeeds
    client.end(true); // 'close' follows and schedules the reconnect
  }

  private recordError(code: EdgeErrorCode, message: string): void {
    this.metrics.recordError(code, message, this.clock.now());
  }
}
