/**
 * Drives one device: starts its driver (retrying with backoff), polls the tags that are
 * due, hands each reading to the sink and turns online/offline transitions into events.
 * A driver's failure stays inside its poller: the others never notice.
 */
import { Backoff, type BackoffPolicy } from './backoff.js';
import type { Clock, TimerHandle } from './clock.js';
import { isLinkDownCode, toEdgeError } from './errors.js';
import type { DeviceDriver, Logger } from './ports.js';
import { ReportFilter, reportsEverything, type DeviceReportPolicy } from './report-filter.js';
import { LatenessHistogram, TagSchedule, devicePhase } from './schedule.js';
import { badValue, type AgentEvent, type Reading, type TagValue } from './types.js';

/** Debounce of the offline event (config `agent.offline`, defaults beside its schema). */
export interface OfflinePolicy {
  readonly afterFailedPolls: number;
  /** 0: the count alone decides. */
  readonly afterMs: number;
}

export interface PollerDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: () => number;
  readonly startBackoff: BackoffPolicy;
  readonly onReading: (reading: Reading) => void;
  readonly onEvent: (event: AgentEvent) => void;
  /** Default: 1 failed poll (no debounce); the agent passes `agent.offline`. */
  readonly offline?: OfflinePolicy;
  /** Report by exception (config `devices[i].report`); absent: every poll is reported. */
  readonly report?: DeviceReportPolicy;
  /** Config `agent.pollSpread`: each device's slots shifted by a phase from its name. */
  readonly spread?: boolean;
  /** Config `agent.pollSpreadSlots`: how many distinct phases (default DEFAULT_SPREAD_SLOTS). */
  readonly spreadSlots?: number;
}

export interface PollerStats {
  readonly device: string;
  readonly state: 'stopped' | 'starting' | 'online' | 'offline';
  readonly polls: number;
  /** Polls with at least one bad value. */
  readonly pollErrors: number;
  /** Failed or partly failed polls (and failed starts) by code: a poll counts once per code it returned. */
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** Bad values published, by code (a poll of 14 tags of a dead slave adds 14). */
  readonly badValuesByCode: Readonly<Record<string, number>>;
  readonly lastPollTs: number | null;
  readonly lastPollMs: number | null;
  readonly startAttempts: number;
  /** Completed loop steps (start attempts and polls): the watchdog's proof the loop runs. */
  readonly steps: number;
  /** True after a fatal start error: the poller gave up and will not step again. */
  readonly parked: boolean;
  /** Values read but not reported (report by exception). */
  readonly suppressedValues: number;
  /** How late polls started after their slot: counts per POLL_LATE_BOUNDS_MS bucket, and the sum (ms). */
  readonly startLate: { readonly counts: readonly number[]; readonly sumMs: number };
}

export class DevicePoller {
  private state: PollerStats['state'] = 'stopped';
  private polls = 0;
  private pollErrors = 0;
  private readonly errorsByCode: Record<string, number> = {};
  private readonly badValuesByCode: Record<string, number> = {};
  private lastPollTs: number | null = null;
  private lastPollMs: number | null = null;
  private timer: TimerHandle | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = true;
  private readonly backoff: Backoff;
  private schedule: TagSchedule | undefined;
  private steps = 0;
  private parked = false;
  /** Link-down polls in a row, and when the run began (monotonic). */
  private failedRun = 0;
  private failedRunSince = 0;
  /** Offline events only for a device that was online once: start-up is not an outage. */
  private everOnline = false;
  private readonly report: ReportFilter | undefined;
  private readonly late = new LatenessHistogram();

  constructor(
    private readonly driver: DeviceDriver,
    private readonly deps: PollerDeps,
  ) {
    this.backoff = new Backoff(deps.startBackoff, deps.random);
    this.report = deps.report && !reportsEverything(deps.report) ? new ReportFilter(deps.report) : undefined;
  }

  get device(): string {
    return this.driver.device;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.state = 'starting';
    this.run(() => this.tryStart());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    await this.running;
    // Changes held inside minIntervalMs were read: a stop (a reload, a shutdown) must not drop them.
    for (const held of this.report?.drain() ?? [])
      this.deps.onReading({ device: this.device, ts: held.ts, values: held.values });
    await this.driver
      .stop()
      .catch((error: unknown) =>
        this.deps.logger.warn({ err: error, device: this.device }, 'driver stop failed'),
      );
    this.state = 'stopped';
  }

  /** The next poll reports every tag, whatever the filter last saw (a Sparkplug rebirth). */
  reportAll(): void {
    this.report?.reset();
  }

  stats(): PollerStats {
    return {
      device: this.device,
      state: this.state,
      polls: this.polls,
      pollErrors: this.pollErrors,
      errorsByCode: { ...this.errorsByCode },
      badValuesByCode: { ...this.badValuesByCode },
      lastPollTs: this.lastPollTs,
      lastPollMs: this.lastPollMs,
      startAttempts: this.backoff.attempts,
      steps: this.steps,
      parked: this.parked,
      suppressedValues: this.report?.stats().suppressed ?? 0,
      startLate: { counts: [...this.late.counts], sumMs: this.late.sumMs },
    };
  }

  /** stats()'s device, lastPollTs and lastPollMs alone. */
  lastPoll(): { device: string; lastPollTs: number | null; lastPollMs: number | null } {
    return { device: this.device, lastPollTs: this.lastPollTs, lastPollMs: this.lastPollMs };
  }

  driverStatus(): Readonly<Record<string, unknown>> {
    return this.driver.status();
  }

  /** Serialises steps so stop() can await the one in progress. */
  private run(step: () => Promise<void>): void {
    this.running = this.running.then(() => (this.stopped ? undefined : step()));
  }

  private later(ms: number, step: () => Promise<void>): void {
    if (this.stopped) return;
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      this.run(step);
    }, ms);
  }

  private async tryStart(): Promise<void> {
    try {
      await this.driver.start();
    } catch (thrown) {
      const error = toEdgeError(thrown, 'EDGE_ERR_DRIVER_START', { device: this.device });
      this.count(error.code);
      this.steps++;
      if (error.nature === 'fatal') {
        this.parked = true;
        this.deps.logger.error(
          { device: this.device, code: error.code, err: error.message },
          'device cannot start; giving up',
        );
        this.markOffline(error.code, error.message);
        return;
      }
      const wait = this.backoff.next();
      this.deps.logger.warn(
        { device: this.device, code: error.code, err: error.message, retryInMs: wait },
        'device start failed',
      );
      this.markOffline(error.code, error.message);
      this.later(wait, () => this.tryStart());
      return;
    }
    this.steps++;
    this.backoff.reset();
    this.report?.reset();
    // Monotonic: a wall clock stepped back (NTP) would put every next slot that far away.
    const tags = this.driver.tags();
    const span = Math.min(...tags.map((t) => t.intervalMs));
    const phase =
      this.deps.spread && tags.length > 0 ? devicePhase(this.device, span, this.deps.spreadSlots) : 0;
    this.schedule = new TagSchedule(tags, this.deps.clock.monotonic(), phase);
    await this.pollDue();
  }

  private async pollDue(): Promise<void> {
    const schedule = this.schedule;
    if (!schedule) return;
    const slot = schedule.nextWake();
    const now = this.deps.clock.monotonic();
    const due = schedule.due(now);
    if (due.length > 0) {
      this.late.add(now - slot);
      await this.pollOnce(due);
    }
    const wait = Math.max(0, schedule.nextWake() - this.deps.clock.monotonic());
    this.later(wait, () => this.pollDue());
  }

  private async pollOnce(tags: readonly string[]): Promise<void> {
    const startedAt = this.deps.clock.monotonic();
    const ts = this.deps.clock.now();
    let values: readonly TagValue[];
    try {
      values = await this.driver.poll(tags);
    } catch (thrown) {
      const error = toEdgeError(thrown, 'EDGE_ERR_DRIVER_POLL', { device: this.device });
      this.deps.logger.error(
        { device: this.device, code: error.code, err: error.message },
        'driver poll threw',
      );
      values = tags.map((tag) => badValue(tag, error.code, error.message));
    }
    this.polls++;
    this.steps++;
    this.lastPollTs = ts;
    this.lastPollMs = this.deps.clock.monotonic() - startedAt;
    const bad = values.filter((v) => v.quality === 'bad');
    if (bad.length > 0) this.pollErrors++;
    const codes = new Set<string>();
    for (const v of bad) {
      if (v.quality !== 'bad') continue;
      codes.add(v.code);
      this.badValuesByCode[v.code] = (this.badValuesByCode[v.code] ?? 0) + 1;
    }
    for (const code of codes) this.count(code);
    const linkDown =
      bad.length === values.length && bad.every((v) => v.quality === 'bad' && isLinkDownCode(v.code));
    // Back online: the first good values are reported whatever the filter last saw.
    if (!linkDown && this.state !== 'online') this.report?.reset();
    const schedule = this.schedule;
    const reported = this.report
      ? this.report.filter(values, this.deps.clock.monotonic(), (tag) => schedule?.intervalOf(tag), ts)
      : values;
    // Changes held inside minIntervalMs: readings of their own, at the time they were read.
    for (const earlier of this.report?.takeEarlier() ?? [])
      this.deps.onReading({ device: this.device, ts: earlier.ts, values: earlier.values });
    if (reported.length > 0) this.deps.onReading({ device: this.device, ts, values: reported });
    if (linkDown) {
      const first = bad[0];
      if (first && first.quality === 'bad') this.failedPoll(first.code, first.reason);
    } else this.markOnline();
  }

  private count(code: string): void {
    this.errorsByCode[code] = (this.errorsByCode[code] ?? 0) + 1;
  }

  /** A poll without answer: offline once the run is long enough (count or time). */
  private failedPoll(code: string, reason: string): void {
    const now = this.deps.clock.monotonic();
    if (this.failedRun === 0) this.failedRunSince = now;
    this.failedRun++;
    const policy = this.deps.offline ?? { afterFailedPolls: 1, afterMs: 0 };
    const long = policy.afterMs > 0 && now - this.failedRunSince >= policy.afterMs;
    if (this.failedRun >= policy.afterFailedPolls || long || !this.everOnline) this.markOffline(code, reason);
  }

  private markOnline(): void {
    this.failedRun = 0;
    this.everOnline = true;
    if (this.state === 'online') return;
    this.state = 'online';
    this.emit('device-online', 'info', {});
  }

  private markOffline(code: string, reason: string): void {
    if (this.state === 'offline') return;
    this.state = 'offline';
    if (this.everOnline) this.emit('device-offline', 'warning', { code, reason });
  }

  private emit(type: string, severity: AgentEvent['severity'], data: Record<string, unknown>): void {
    this.deps.onEvent({ device: this.device, ts: this.deps.clock.now(), type, severity, data });
  }
}
