/**
 * A device with a secondary source: one DeviceDriver (what the poller sees) over two
 * drivers of any kind. Readings keep the device's name and tag names; values read from
 * the secondary carry `source: 'secondary'`. The FailoverPolicy decides; this class does
 * the I/O around it:
 * - on the primary, every poll feeds the policy; when the primary is failing the
 *   secondary is checked (inline, so the switching poll already returns its values);
 * - on the secondary, the primary is probed in the background every probeIntervalMs
 *   (a dead primary never slows the secondary's polls) and the switch back happens when
 *   a probe completes the hysteresis;
 * - each source starts on its own: the device starts when either source does, and a
 *   source that failed to start is retried in the background with backoff.
 * init() refuses a secondary whose mapped tags would publish another type or scaling than
 * the primary's (shapes.ts): a switch must never change what a good value means.
 */
import { Backoff, type BackoffPolicy } from '../../core/backoff.js';
import type { Clock } from '../../core/clock.js';
import { EdgeError, isLinkDownCode, toEdgeError } from '../../core/errors.js';
import type { DeviceDriver, Logger, TagSpec, WriteValue } from '../../core/ports.js';
import { badValue, type AgentEvent, type TagValue } from '../../core/types.js';
import { tagMapIssues, type FailoverConfig } from './config.js';
import { FailoverPolicy, type PollSample, type Transition } from './policy.js';
import { shapeIssues, type TagShapes } from './shapes.js';

export interface FailoverDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: () => number;
  /** Backoff between start attempts of a source that failed to start. */
  readonly startBackoff: BackoffPolicy;
  /** Where `source-failover` events go (the agent's outbox). */
  readonly onEvent: (event: AgentEvent) => void;
  /** What each source publishes per tag (`tagShapesOf`); undefined: that driver declares no types. */
  readonly tagShapes: { readonly primary: TagShapes | undefined; readonly secondary: TagShapes | undefined };
}

interface Slot {
  readonly role: 'primary' | 'secondary';
  readonly driver: DeviceDriver;
  readonly backoff: Backoff;
  started: boolean;
  starting: Promise<void> | undefined;
  nextStartAt: number;
  lastStartError: string | undefined;
  startFailures: number;
}

const FAILOVER_EVENT = 'source-failover';

/** Counts of one poll's values for the policy. */
function sampleOf(values: readonly TagValue[]): PollSample {
  let bad = 0;
  let linkDown = values.length > 0;
  for (const v of values) {
    if (v.quality !== 'bad') {
      linkDown = false;
      continue;
    }
    bad++;
    if (!isLinkDownCode(v.code)) linkDown = false;
  }
  return { bad, total: values.length, linkDown };
}

export class FailoverDriver implements DeviceDriver {
  readonly device: string;
  readonly write?: (tag: string, value: WriteValue) => Promise<void>;
  private readonly primary: Slot;
  private readonly secondary: Slot;
  private readonly policy: FailoverPolicy;
  private toSecondary = new Map<string, string>();
  private tagNames = new Set<string>();
  private probe: Promise<void> | undefined;
  private stopped = true;
  private initialised = false;
  private readonly counters = { probes: 0, secondaryChecks: 0, lastSwitch: null as Transition | null };

  constructor(
    primary: DeviceDriver,
    secondary: DeviceDriver,
    private readonly config: FailoverConfig,
    private readonly deps: FailoverDeps,
  ) {
    this.device = primary.device;
    const slot = (role: Slot['role'], driver: DeviceDriver): Slot => ({
      role,
      driver,
      backoff: new Backoff(deps.startBackoff, deps.random),
      started: false,
      starting: undefined,
      nextStartAt: 0,
      lastStartError: undefined,
      startFailures: 0,
    });
    this.primary = slot('primary', primary);
    this.secondary = slot('secondary', secondary);
    this.policy = new FailoverPolicy(config, deps.clock.now());
    if (primary.write || secondary.write) this.write = (tag, value) => this.writeActive(tag, value);
  }

  /** The two sources' drivers (their families remove them when the device goes). */
  sources(): readonly [DeviceDriver, DeviceDriver] {
    return [this.primary.driver, this.secondary.driver];
  }

  /** The source polls currently go to. */
  get active(): 'primary' | 'secondary' {
    return this.policy.active;
  }

  init(): void {
    if (this.initialised) return;
    this.primary.driver.init();
    this.secondary.driver.init();
    const primaryTags = this.primary.driver.tags().map((t) => t.name);
    const secondaryTags = this.secondary.driver.tags().map((t) => t.name);
    const issue = tagMapIssues(primaryTags, secondaryTags, this.config.tagMap)[0];
    if (issue) {
      const field = issue.path.join('.');
      throw new EdgeError('EDGE_ERR_CONFIG_INVALID', `device ${this.device}: ${field}: ${issue.message}`, {
        context: { device: this.device, field },
      });
    }
    const map = this.config.tagMap ?? Object.fromEntries(primaryTags.map((t) => [t, t]));
    const toSecondary = new Map(Object.entries(map));
    const { primary, secondary } = this.deps.tagShapes;
    const mismatch = shapeIssues(primary, secondary, toSecondary)[0];
    if (mismatch)
      throw new EdgeError(
        'EDGE_ERR_CONFIG_INVALID',
        `device ${this.device}: ${mismatch.field}: ${mismatch.message}`,
        {
          context: { device: this.device, tag: mismatch.tag, field: mismatch.field },
        },
      );
    this.toSecondary = toSecondary;
    this.tagNames = new Set(primaryTags);
    this.initialised = true;
  }

  tags(): readonly TagSpec[] {
    return this.primary.driver.tags();
  }

  /** Starts both sources; resolves when at least one started. */
  async start(): Promise<void> {
    if (!this.initialised) this.init();
    this.stopped = false;
    const [first] = await Promise.allSettled([this.startSlot(this.primary), this.startSlot(this.secondary)]);
    if (this.primary.started || this.secondary.started) return;
    throw first.status === 'rejected'
      ? first.reason
      : new EdgeError('EDGE_ERR_DRIVER_START', `device ${this.device}: no source started`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.probe, this.primary.starting, this.secondary.starting]);
    await Promise.all(
      [this.primary, this.secondary].map(async (slot) => {
        slot.started = false;
        await slot.driver
          .stop()
          .catch((error: unknown) =>
            this.deps.logger.warn({ err: String(error), source: slot.role }, 'source stop failed'),
          );
      }),
    );
  }

  async poll(names: readonly string[]): Promise<readonly TagValue[]> {
    const { clock } = this.deps;
    if (this.policy.active === 'primary') {
      const values = await this.pollSlot(this.primary, names);
      this.policy.recordPrimary(clock.now(), sampleOf(values));
      if (!this.policy.secondaryCheckDue(clock.now())) return values;
      this.counters.secondaryChecks++;
      const fromSecondary = await this.pollSecondary(names);
      if (fromSecondary.sample.total > 0) this.policy.recordSecondary(clock.now(), fromSecondary.sample);
      const transition = this.policy.decide(clock.now());
      if (!transition) return values;
      this.announce(transition);
      return fromSecondary.values;
    }
    const fromSecondary = await this.pollSecondary(names);
    if (fromSecondary.sample.total > 0) this.policy.recordSecondary(clock.now(), fromSecondary.sample);
    if (this.policy.probeDue(clock.now()) && !this.probe) this.startProbe(names);
    return fromSecondary.values;
  }

  status(): Readonly<Record<string, unknown>> {
    const slotStatus = (slot: Slot): Record<string, unknown> => ({
      device: slot.driver.device,
      started: slot.started,
      startFailures: slot.startFailures,
      lastStartError: slot.lastStartError ?? null,
      link: slot.driver.status(),
    });
    return {
      source: this.policy.active,
      failover: {
        ...this.policy.state(this.deps.clock.now()),
        probes: this.counters.probes,
        secondaryChecks: this.counters.secondaryChecks,
        lastSwitch: this.counters.lastSwitch,
      },
      primary: slotStatus(this.primary),
      secondary: slotStatus(this.secondary),
    };
  }

  /** Writes go to the active source only, under its tag name; never to the other one. */
  private async writeActive(tag: string, value: WriteValue): Promise<void> {
    if (!this.tagNames.has(tag)) {
      throw new EdgeError('EDGE_ERR_CMD_UNKNOWN_TAG', `device ${this.device} has no tag "${tag}"`, {
        context: { device: this.device, tag },
      });
    }
    const onSecondary = this.policy.active === 'secondary';
    const slot = onSecondary ? this.secondary : this.primary;
    const target = onSecondary ? this.toSecondary.get(tag) : tag;
    if (target === undefined) {
      throw new EdgeError(
        'EDGE_ERR_CMD_NOT_WRITABLE',
        `device ${this.device} runs on its secondary source, which has no tag mapped for "${tag}"`,
        {
          context: { device: this.device, tag, source: 'secondary' },
        },
      );
    }
    if (!slot.driver.write) {
      throw new EdgeError(
        'EDGE_ERR_CMD_UNSUPPORTED',
        `device ${this.device}: the active ${slot.role} source (${slot.driver.device}) cannot write`,
        {
          context: { device: this.device, tag, source: slot.role },
        },
      );
    }
    await slot.driver.write(target, value);
  }

  private async startSlot(slot: Slot): Promise<void> {
    if (slot.started) return;
    try {
      await slot.driver.start();
    } catch (thrown) {
      const error = toEdgeError(thrown, 'EDGE_ERR_DRIVER_START', { device: this.device, source: slot.role });
      slot.startFailures++;
      slot.lastStartError = error.code;
      slot.nextStartAt = this.deps.clock.now() + slot.backoff.next();
      throw error;
    }
    if (this.stopped) {
      await slot.driver.stop().catch(() => undefined);
      return;
    }
    slot.started = true;
    slot.lastStartError = undefined;
    slot.backoff.reset();
  }

  /** Retries a source's start in the background, at most one attempt at a time. */
  private ensureStarted(slot: Slot): void {
    if (slot.started || slot.starting || this.stopped || this.deps.clock.now() < slot.nextStartAt) return;
    slot.starting = this.startSlot(slot)
      .catch((error: unknown) =>
        this.deps.logger.warn({ source: slot.role, code: (error as EdgeError).code }, 'source start failed'),
      )
      .finally(() => (slot.starting = undefined));
  }

  private async pollSlot(slot: Slot, names: readonly string[]): Promise<readonly TagValue[]> {
    if (!slot.started) {
      this.ensureStarted(slot);
      const reason = `${slot.role} source ${slot.driver.device} is not started${slot.lastStartError ? ` (${slot.lastStartError})` : ''}`;
      return names.map((n) => badValue(n, 'EDGE_ERR_DRIVER_START', reason));
    }
    try {
      return await slot.driver.poll(names);
    } catch (thrown) {
      const error = toEdgeError(thrown, 'EDGE_ERR_DRIVER_POLL', { device: this.device, source: slot.role });
      this.deps.logger.error(
        { source: slot.role, code: error.code, err: error.message },
        'source poll threw',
      );
      return names.map((n) => badValue(n, error.code, error.message));
    }
  }

  /** The secondary's values under the primary's names; the sample counts mapped tags only. */
  private async pollSecondary(names: readonly string[]): Promise<{ values: TagValue[]; sample: PollSample }> {
    const mapped = [
      ...new Set(names.map((n) => this.toSecondary.get(n)).filter((n): n is string => n !== undefined)),
    ];
    const read = mapped.length > 0 ? await this.pollSlot(this.secondary, mapped) : [];
    const byName = new Map(read.map((v) => [v.tag, v]));
    const values = names.map((name): TagValue => {
      const target = this.toSecondary.get(name);
      const v = target === undefined ? undefined : byName.get(target);
      if (!v)
        return {
          ...badValue(name, 'EDGE_ERR_FAILOVER_UNMAPPED', `no secondary tag mapped for "${name}"`),
          source: 'secondary',
        };
      return { ...v, tag: name, source: 'secondary' };
    });
    return { values, sample: sampleOf(read) };
  }

  private startProbe(names: readonly string[]): void {
    this.counters.probes++;
    this.probe = (async () => {
      const values = await this.pollSlot(this.primary, names);
      if (this.stopped || this.policy.active !== 'secondary') return;
      const now = this.deps.clock.now();
      this.policy.recordPrimary(now, sampleOf(values));
      const transition = this.policy.decide(now);
      if (transition) this.announce(transition);
    })().finally(() => (this.probe = undefined));
  }

  private announce(t: Transition): void {
    this.counters.lastSwitch = t;
    const errorRate = Math.round(t.errorRate * 1000) / 1000;
    const data = {
      from: t.from,
      to: t.to,
      cause: t.cause,
      errorRate,
      samples: t.samples,
      windowMs: this.config.windowMs,
      secondary: this.secondary.driver.device,
    };
    const level = t.to === 'secondary' ? 'warn' : 'info';
    this.deps.logger[level]({ device: this.device, ...data }, `device switched to its ${t.to} source`);
    this.deps.onEvent({
      device: this.device,
      ts: t.at,
      type: FAILOVER_EVENT,
      severity: t.to === 'secondary' ? 'warning' : 'info',
      data,
    });
  }
}
