/**
 * One OPC UA server. Subscription mode: notifications fill a per-tag cache and poll()
 * publishes it; poll mode: poll() reads the due nodes. Either way a value is good only
 * while the link is up, its status is Good (Uncertain per `uncertain`) and its variant is
 * of the tag's type. While the link is down every tag is bad with the link's code; after a
 * reconnect a tag is bad (no data) until the server sent it again or the catch-up Read
 * (retried at each poll until it succeeds) brought it, so nothing from before the outage
 * is published as current and nothing stays bad only because it did not change.
 */
import { Backoff } from '../../core/backoff.js';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { EdgeError } from '../../core/errors.js';
import type { DeviceDriver, Logger, TagSpec, WriteValue } from '../../core/ports.js';
import { badValue, type TagValue } from '../../core/types.js';
import { createSecretResolver, type SecretResolver } from '../../config-kit/secrets.js';
import type { DataValue } from 'node-opcua-client';
import type { OpcuaDeviceConfig, OpcuaTagConfig } from './config.js';
import { tagValueOf, type DataValueLike } from './datatypes.js';
import { opcuaError, type OpcuaErrorCode } from './errors.js';
import { namedTags, readOrBad, readTags, type ReadContext } from './read.js';
import { RefusedItems } from './refused-items.js';
import { OpcuaLink, withTimeout } from './session.js';
import { subscribe, type StatusLike, type TagSubscription } from './subscription.js';
import { TagCache } from './tag-cache.js';
import { writeTag } from './write.js';

export interface OpcuaDeviceDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: () => number;
  readonly secrets?: SecretResolver;
}

type LinkState = 'stopped' | 'connecting' | 'up' | 'reconnecting' | 'down';

/** Counters of one device, for status.json and the driver's metrics. */
export interface OpcuaCounters {
  readonly connects: number;
  readonly connectFailures: number;
  readonly lost: number;
  readonly restored: number;
  readonly recreated: number;
  readonly notifications: number;
  readonly reads: number;
  readonly writes: number;
}

export class OpcuaDevice implements DeviceDriver {
  readonly device: string;
  private readonly logger: Logger;
  private readonly byName = new Map<string, OpcuaTagConfig>();
  private readonly cache: TagCache;
  private readonly backoff: Backoff;
  private link: OpcuaLink | undefined;
  /** The link being opened: its subscription's first notifications arrive before it is `link`. */
  private candidate: OpcuaLink | undefined;
  private subscription: TagSubscription | undefined;
  /** The catch-up Read after a (re)connection has not succeeded yet: the next poll sends it again. */
  private refreshDue = false;
  private refreshing: Promise<void> | undefined;
  private opening: Promise<void> | undefined;
  private retryTimer: TimerHandle | undefined;
  private watchdog: TimerHandle | undefined;
  private wanted = false;
  private state: LinkState = 'stopped';
  private linkError: EdgeError;
  private lastAlive = 0;
  private readonly refusedItems: RefusedItems;
  private readonly counts = {
    connects: 0,
    connectFailures: 0,
    lost: 0,
    restored: 0,
    recreated: 0,
    notifications: 0,
    reads: 0,
    writes: 0,
    errorsByCode: {} as Record<string, number>,
  };

  constructor(
    readonly config: OpcuaDeviceConfig,
    private readonly deps: OpcuaDeviceDeps,
  ) {
    this.device = config.name;
    this.logger = deps.logger.child({ device: config.name });
    this.backoff = new Backoff(config.reconnect, deps.random);
    this.cache = new TagCache(config.tags);
    this.linkError = opcuaError('EDGE_ERR_OPCUA_DISCONNECTED', 'not connected yet', { device: config.name });
    this.refusedItems = new RefusedItems({
      clock: deps.clock,
      random: deps.random,
      logger: this.logger,
      policy: config.reconnect,
      timeoutMs: config.connectTimeoutMs,
      cache: this.cache,
      current: () => (this.state === 'up' ? this.subscription : undefined),
    });
  }

  init(): void {
    if (this.byName.size > 0) return;
    for (const tag of this.config.tags) this.byName.set(tag.name, tag);
  }

  tags(): readonly TagSpec[] {
    this.init();
    return this.config.tags.map((t) => ({
      name: t.name,
      intervalMs: t.intervalMs ?? this.config.intervalMs,
    }));
  }

  async start(): Promise<void> {
    this.init();
    if (this.wanted && this.link) return;
    this.wanted = true;
    await this.connect();
    if (!this.link) throw this.linkError;
  }

  async stop(): Promise<void> {
    this.wanted = false;
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    this.watchdog?.cancel();
    this.watchdog = undefined;
    await this.opening;
    await this.drop();
    await this.refreshing;
    this.state = 'stopped';
  }

  private connect(): Promise<void> {
    if (this.link) return Promise.resolve();
    this.opening ??= this.openOnce().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async openOnce(): Promise<void> {
    this.state = 'connecting';
    const link = new OpcuaLink(this.config, {
      clock: this.deps.clock,
      logger: this.logger,
      secrets: this.deps.secrets ?? createSecretResolver(),
      events: {
        lost: () => this.onLost(link),
        restored: () => this.onRestored(link),
        closed: (error) => this.onClosed(link, error),
      },
    });
    this.candidate = link;
    try {
      const session = await link.open();
      this.cache.reset('EDGE_ERR_OPCUA_NO_DATA', 'no value received since the connection was opened');
      if (this.config.mode === 'subscription')
        this.subscription = await withTimeout(
          this.deps.clock,
          subscribe(link.ua!, session, this.config, this.sink(link), this.logger),
          this.config.connectTimeoutMs,
          'create subscription',
        );
      this.noteRefusedItems();
      if (!this.wanted) return void (await link.close());
      this.link = link;
      this.lastAlive = this.deps.clock.monotonic();
      this.counts.connects++;
      this.backoff.reset();
      this.state = 'up';
      this.logger.info(
        { endpoint: this.config.endpoint, serverSha256: link.serverSha256 },
        'opcua connected',
      );
      // Values the first publish has not brought yet come from one Read: start() returns with every tag known.
      if (this.config.mode === 'subscription') await this.refresh(link, true);
    } catch (thrown) {
      await link.close();
      this.subscription = undefined;
      this.linkError =
        thrown instanceof EdgeError
          ? thrown
          : opcuaError('EDGE_ERR_OPCUA_CONNECT', String(thrown), { device: this.device }, thrown);
      this.counts.connectFailures++;
      this.count(this.linkError.code);
      this.state = 'down';
      this.logger.warn({ code: this.linkError.code, err: this.linkError.message }, 'opcua connect failed');
    } finally {
      this.candidate = undefined;
    }
  }

  private sink(link: OpcuaLink) {
    return {
      value: (tag: OpcuaTagConfig, dv: DataValue | { readonly statusCode: StatusLike }) => {
        if (this.link !== link && this.candidate !== link) return;
        this.counts.notifications++;
        this.cache.notified(this.valueOf(tag, dv));
      },
      alive: () => {
        this.lastAlive = this.deps.clock.monotonic();
      },
    };
  }

  private onLost(link: OpcuaLink): void {
    if (this.link !== link) return;
    this.counts.lost++;
    this.state = 'reconnecting';
    this.linkError = opcuaError(
      'EDGE_ERR_OPCUA_DISCONNECTED',
      'connection lost; node-opcua is reconnecting',
      {
        device: this.device,
      },
    );
    this.cache.reset('EDGE_ERR_OPCUA_DISCONNECTED', 'connection lost');
    this.refusedItems.cancel();
    this.logger.warn({}, 'opcua connection lost; reconnecting');
    this.watchdog?.cancel();
    // node-opcua retries forever; past recreateAfterMs a fresh client (new endpoint lookup, new session) may do better.
    this.watchdog = this.deps.clock.setTimeout(() => {
      this.watchdog = undefined;
      if (this.link === link && this.state === 'reconnecting')
        this.onClosed(
          link,
          opcuaError(
            'EDGE_ERR_OPCUA_DISCONNECTED',
            `node-opcua did not reconnect within ${this.config.recreateAfterMs} ms`,
            { device: this.device },
          ),
        );
    }, this.config.recreateAfterMs);
  }

  private onRestored(link: OpcuaLink): void {
    if (this.link !== link) return;
    this.watchdog?.cancel();
    this.watchdog = undefined;
    this.counts.restored++;
    this.state = 'up';
    this.lastAlive = this.deps.clock.monotonic();
    this.cache.reset('EDGE_ERR_OPCUA_NO_DATA', 'no value received since the reconnection');
    // A re-created subscription may have lost items the restarted server now refuses (no event says so).
    this.noteRefusedItems();
    this.logger.info({}, 'opcua connection re-established');
    // A re-activated session's subscription resends nothing unchanged: read every tag once.
    if (this.config.mode === 'subscription') void this.refresh(link, true);
  }

  /** node-opcua gave up (or took too long): drop the client and reconnect with our backoff. */
  private onClosed(link: OpcuaLink, error: EdgeError): void {
    if (this.link !== link) return;
    this.counts.recreated++;
    this.linkError = error;
    this.cache.reset(error.code as OpcuaErrorCode, error.message);
    this.state = 'down';
    this.logger.warn(
      { code: error.code, err: error.message },
      'opcua link dropped; reconnecting with backoff',
    );
    void this.drop().then(() => this.scheduleReconnect());
  }

  private async drop(): Promise<void> {
    const link = this.link;
    this.link = undefined;
    this.subscription = undefined;
    this.refusedItems.cancel();
    this.watchdog?.cancel();
    this.watchdog = undefined;
    await link?.close();
  }

  private scheduleReconnect(): void {
    if (!this.wanted || this.retryTimer || this.opening || this.link) return;
    this.retryTimer = this.deps.clock.setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect().then(() => {
        if (!this.link) this.scheduleReconnect();
      });
    }, this.backoff.next());
  }

  /**
   * Fills the tags that got no notification since the (re)connection from one Read. `due`
   * (a new connection) replaces the pending one; a failed Read stays due for the next poll.
   */
  private refresh(link: OpcuaLink, due = false): Promise<void> {
    if (due) this.refreshDue = true;
    this.refreshing ??= this.catchUp(link).finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async catchUp(link: OpcuaLink): Promise<void> {
    this.refreshDue = false;
    const mark = this.cache.mark();
    const values = await readTags(this.readContext(), link, this.config.tags).catch((thrown: unknown) => {
      this.logger.warn({ err: String(thrown) }, 'opcua catch-up read failed; retried at the next poll');
      return undefined;
    });
    if (this.link !== link && this.candidate !== link) return;
    if (!values) this.refreshDue = true;
    else this.cache.caughtUp(mark, values);
  }

  /** The tags whose monitored item the server refused stay bad with its status (until it takes one). */
  private noteRefusedItems(): void {
    this.refusedItems.note(this.subscription);
  }

  private readContext(): ReadContext {
    this.counts.reads++;
    return { clock: this.deps.clock, config: this.config, linkError: this.linkError };
  }

  private valueOf(tag: OpcuaTagConfig, dv: DataValueLike): TagValue {
    return tagValueOf(tag, dv, this.config.uncertain);
  }

  /** Publish responses (data or keep-alive) stopped: the subscription is as good as dead. */
  private stale(): boolean {
    const s = this.config.subscription;
    const allowed = 2 * s.publishingIntervalMs * s.keepAliveCount + this.config.requestTimeoutMs;
    return this.deps.clock.monotonic() - this.lastAlive > allowed;
  }

  async poll(names: readonly string[]): Promise<readonly TagValue[]> {
    this.init();
    const tags = namedTags(this.byName, this.device, names);
    const link = this.link;
    let values: TagValue[];
    if (!link || this.state !== 'up') {
      if (this.wanted && !link) this.scheduleReconnect();
      values = tags.map((t) => badValue(t.name, this.linkError.code, this.linkError.message));
    } else if (this.config.mode === 'poll') {
      values = await readOrBad(this.readContext(), link, tags);
    } else if (this.stale()) {
      // A silently dead link (a pulled cable, a hung server): the socket never closed, so
      // node-opcua will not notice; start over with a fresh client.
      const error = opcuaError('EDGE_ERR_OPCUA_TIMEOUT', 'no publish response (data or keep-alive) in time', {
        device: this.device,
      });
      this.onClosed(link, error);
      values = tags.map((t) => badValue(t.name, error.code, error.message));
    } else {
      if (this.refreshDue) void this.refresh(link);
      values = tags.map((t) => this.cache.value(t.name));
    }
    for (const v of values) if (v.quality === 'bad') this.count(v.code);
    return values;
  }

  async write(tag: string, value: WriteValue): Promise<void> {
    this.init();
    this.counts.writes++;
    const link = this.state === 'up' ? this.link : undefined;
    return writeTag(
      {
        device: this.device,
        clock: this.deps.clock,
        config: this.config,
        tags: this.byName,
        link,
        linkError: this.linkError,
      },
      tag,
      value,
    );
  }

  private count(code: string): void {
    this.counts.errorsByCode[code] = (this.counts.errorsByCode[code] ?? 0) + 1;
  }

  get up(): boolean {
    return this.state === 'up';
  }

  counters(): OpcuaCounters {
    const { errorsByCode: _, ...counters } = this.counts;
    return counters;
  }

  status(): Readonly<Record<string, unknown>> {
    return {
      state: this.state,
      endpoint: this.config.endpoint,
      mode: this.config.mode,
      security: `${this.config.security.mode}/${this.config.security.policy}`,
      serverCertificateSha256: this.link?.serverSha256 ?? null,
      subscriptionId: this.subscription?.subscription.subscriptionId ?? null,
      ...this.counters(),
      itemRetries: this.refusedItems.retries,
      errorsByCode: { ...this.counts.errorsByCode },
      lastError: this.state === 'up' ? null : { code: this.linkError.code, message: this.linkError.message },
    };
  }
}
