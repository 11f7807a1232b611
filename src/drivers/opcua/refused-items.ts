/**
 * The monitored items the server refused (a node it does not have yet, too many items…):
 * their tags are bad with the item's status, and the items are created again on the same
 * session, paced by the device's `reconnect` backoff (bounded by its `maxMs`), until the
 * server takes them or the link goes. A new link notes its own refusals afresh.
 */
import { Backoff, type BackoffPolicy } from '../../core/backoff.js';
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { Logger } from '../../core/ports.js';
import { withTimeout } from './session.js';
import type { TagSubscription } from './subscription.js';
import type { TagCache } from './tag-cache.js';

export interface RefusedItemsDeps {
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
  readonly policy: BackoffPolicy;
  /** How long one CreateMonitoredItems may take. */
  readonly timeoutMs: number;
  readonly cache: TagCache;
  /** The subscription of the link that is up now (undefined while down or reconnecting). */
  readonly current: () => TagSubscription | undefined;
}

export class RefusedItems {
  private readonly backoff: Backoff;
  private timer: TimerHandle | undefined;
  /** Bumped by cancel(): a retry in flight then leaves the outcome to whoever notes next. */
  private generation = 0;
  /** Retries sent (status.json). */
  retries = 0;

  constructor(private readonly deps: RefusedItemsDeps) {
    this.backoff = new Backoff(deps.policy, deps.random);
  }

  /** The refused items of `subscription` as they now stand: into the cache, and retried later. */
  note(subscription: TagSubscription | undefined): void {
    const refused = subscription?.refused() ?? [];
    this.deps.cache.setRefused(refused);
    if (refused.length === 0) this.cancel();
    else this.arm();
  }

  /** No retry pending (the link went, or nothing is refused): the next refusal starts the backoff over. */
  cancel(): void {
    this.generation++;
    this.timer?.cancel();
    this.timer = undefined;
    this.backoff.reset();
  }

  private arm(): void {
    if (this.timer) return;
    const generation = this.generation;
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      void this.retry(generation);
    }, this.backoff.next());
  }

  private async retry(generation: number): Promise<void> {
    const subscription = this.deps.current();
    const names = subscription?.refused().map((r) => r.tag.name) ?? [];
    if (!subscription || names.length === 0) return;
    this.retries++;
    // Hidden behind the refusal, the cache may hold a value of the catch-up Read: never
    // publish that once the item exists, only what the new item reports.
    this.deps.cache.reset('EDGE_ERR_OPCUA_NO_DATA', 'monitored item created again; no value yet', names);
    try {
      await withTimeout(this.deps.clock, subscription.retryRefused(), this.deps.timeoutMs, 'monitored items');
    } catch (error) {
      this.deps.logger.warn({ tags: names, err: String(error) }, 'opcua monitored items not created again');
    }
    if (generation !== this.generation || this.deps.current() !== subscription) return;
    this.note(subscription);
  }
}
