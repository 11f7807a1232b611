/**
 * One S7 PLC: owns its connection (reconnects with capped backoff and jitter), plans and
 * reads the due tags, isolates tags the PLC refuses, and performs confirmed single writes.
 */
import { Backoff } from '../../core/backoff.js';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { EdgeError } from '../../core/errors.js';
import type { DeviceDriver, Logger, TagSpec, WriteValue } from '../../core/ports.js';
import { badValue, type TagValue } from '../../core/types.js';
import { elementAddress, parseS7Address, type S7Address } from './address.js';
import { type S7Point } from './codec.js';
import { publishedNames, type S7DeviceConfig, type S7TagConfig } from './config.js';
import { S7Connection, type ConnectionOptions } from './connection.js';
import { isItemCode } from './errors.js';
import { packRequests, planItems, type PlanLimits, type PlannedRequest } from './plan.js';
import { rackSlotTsap } from './protocol.js';
import { Quarantine } from './quarantine.js';
import { readRound, type PointOutcome } from './round.js';
import { writeTag } from './write.js';

export interface S7DeviceDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: () => number;
}

type LinkState = 'stopped' | 'connecting' | 'up' | 'down';

/** A failure that is about the tag (the PLC answered), not about the link. */
const isTagFault = (code: string): boolean => isItemCode(code) || code === 'EDGE_ERR_S7_BAD_RESPONSE';

export class S7Device implements DeviceDriver {
  readonly device: string;
  private readonly logger: Logger;
  private readonly points = new Map<string, S7Point>();
  private readonly tagConfigs = new Map<string, { config: S7TagConfig; address: S7Address }>();
  private readonly quarantine: Quarantine;
  private readonly reconnectBackoff: Backoff;
  private readonly plans = new Map<string, readonly PlannedRequest[]>();
  private plansEpoch = '';
  private conn: S7Connection | undefined;
  private opening: Promise<void> | undefined;
  private reconnectTimer: TimerHandle | undefined;
  private wanted = false;
  private initialised = false;
  private state: LinkState = 'stopped';
  private linkError: EdgeError = new EdgeError('EDGE_ERR_S7_DISCONNECTED', 'not connected yet');
  private readonly counters = {
    polls: 0,
    requests: 0,
    requestsLastPoll: 0,
    splits: 0,
    connects: 0,
    connectFailures: 0,
    reconnects: 0,
    errorsByCode: {} as Record<string, number>,
    lastPollMs: undefined as number | undefined,
  };

  constructor(
    readonly config: S7DeviceConfig,
    private readonly deps: S7DeviceDeps,
  ) {
    this.device = config.name;
    this.logger = deps.logger.child({ device: config.name });
    this.quarantine = new Quarantine(config.quarantine, deps.random, () => deps.clock.monotonic());
    this.reconnectBackoff = new Backoff(config.reconnect, deps.random);
  }

  init(): void {
    if (this.initialised) return;
    this.config.tags.forEach((tag, j) => {
      const parsed = parseS7Address(tag.address);
      if (!parsed.ok) {
        throw new EdgeError(
          'EDGE_ERR_CONFIG_INVALID',
          `device ${this.device}: tags[${j}].address ${parsed.reason}`,
          {
            context: { device: this.device, tag: tag.name, field: `tags[${j}].address` },
          },
        );
      }
      this.tagConfigs.set(tag.name, { config: tag, address: parsed.address });
      publishedNames(tag.name, parsed.address).forEach((name, i) => {
        const intervalMs = tag.intervalMs ?? this.config.intervalMs;
        this.points.set(name, {
          name,
          tag: tag.name,
          address: elementAddress(parsed.address, i),
          scale: tag.scale,
          offset: tag.offset,
          intervalMs,
        });
      });
    });
    this.initialised = true;
  }

  tags(): readonly TagSpec[] {
    if (!this.initialised) this.init();
    return [...this.points.values()].map((p) => ({ name: p.name, intervalMs: p.intervalMs }));
  }

  async start(): Promise<void> {
    if (!this.initialised) this.init();
    if (this.wanted && this.conn) return;
    this.wanted = true;
    await this.connect();
    if (!this.conn) {
      const code = this.linkError.code;
      throw new EdgeError(
        'EDGE_ERR_DRIVER_START',
        `s7 device ${this.device}: cannot connect (${code}: ${this.linkError.message})`,
        {
          cause: this.linkError,
          context: { device: this.device, code },
        },
      );
    }
  }

  async stop(): Promise<void> {
    this.wanted = false;
    this.reconnectTimer?.cancel();
    this.reconnectTimer = undefined;
    await this.opening;
    this.conn?.close();
    this.conn = undefined;
    this.state = 'stopped';
  }

  private connectionOptions(): ConnectionOptions {
    const c = this.config;
    const tsaps = c.connection.localTSAP !== undefined && c.connection.remoteTSAP !== undefined;
    return {
      host: c.connection.host,
      port: c.connection.port,
      localTsap: tsaps ? c.connection.localTSAP! : 0x0100,
      remoteTsap: tsaps ? c.connection.remoteTSAP! : rackSlotTsap(c.connection.rack, c.connection.slot),
      connectTimeoutMs: c.connectTimeoutMs,
      requestTimeoutMs: c.requestTimeoutMs,
      keepAliveMs: c.keepAliveMs,
      pduSize: c.pduSize,
      maxJobs: c.maxParallelJobs,
      deadAfterTimeouts: c.deadAfterTimeouts,
      clock: this.deps.clock,
    };
  }

  /** One connection attempt (shared by concurrent callers; none while connected); never rejects. */
  private connect(): Promise<void> {
    if (this.conn) return Promise.resolve();
    this.opening ??= this.openOnce().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async openOnce(): Promise<void> {
    this.state = 'connecting';
    try {
      const conn = await S7Connection.open(this.connectionOptions());
      if (!this.wanted) return conn.close();
      conn.onClose((reason) => this.onConnectionLost(conn, reason));
      this.conn = conn;
      this.counters.connects++;
      this.reconnectBackoff.reset();
      this.state = 'up';
      this.logger.info({ pduSize: conn.pduSize, maxJobs: conn.maxJobs }, 's7 connected');
    } catch (thrown) {
      this.linkError =
        thrown instanceof EdgeError ? thrown : new EdgeError('EDGE_ERR_S7_CONNECT', String(thrown));
      this.counters.connectFailures++;
      this.state = 'down';
      this.count(this.linkError.code);
    }
  }

  private onConnectionLost(conn: S7Connection, reason: EdgeError): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.linkError = reason;
    this.counters.reconnects++;
    this.state = 'down';
    this.logger.warn({ code: reason.code, err: reason.message }, 's7 connection lost');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.wanted || this.reconnectTimer || this.opening || this.conn) return;
    const wait = this.reconnectBackoff.next();
    this.reconnectTimer = this.deps.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect().then(() => {
        if (!this.conn) this.scheduleReconnect();
      });
    }, wait);
  }

  async poll(names: readonly string[]): Promise<readonly TagValue[]> {
    const started = this.deps.clock.monotonic();
    const points = names.map((name) => this.point(name));
    this.counters.polls++;
    const conn = this.conn;
    if (!conn) {
      if (this.wanted) this.scheduleReconnect();
      const { code, message } = this.linkError;
      return points.map((p) => this.bad(p.name, code, message));
    }
    const normal: S7Point[] = [];
    const probes: S7Point[] = [];
    for (const p of points) {
      if (!this.quarantine.has(p.name)) normal.push(p);
      else if (this.quarantine.isDue(p.name)) probes.push(p);
    }
    const limits = this.limits(conn);
    const probeRequests = probes.flatMap((p) => packRequests(planItems([p], limits, false), limits));
    const first = await readRound(conn, [...this.plan(normal, limits), ...probeRequests]);
    const outcomes = first.outcomes;
    let requests = first.requests;
    const split = normal.filter((p) => {
      const f = outcomes.get(p)?.failure;
      return f !== undefined && f.sharedWith > 1 && isTagFault(f.code);
    });
    if (split.length > 0 && conn.open) {
      // A refused merged item or request: read its points one item each, so good neighbours stay good now.
      this.counters.splits++;
      const again = await readRound(conn, packRequests(planItems(split, limits, false), limits));
      requests += again.requests;
      for (const [p, o] of again.outcomes) outcomes.set(p, o);
    }
    this.counters.requests += requests;
    this.counters.requestsLastPoll = requests;
    for (let i = 0; i < probes.length; i++) this.quarantine.noteProbe();
    const values = points.map((p) => this.settle(p, outcomes.get(p), conn));
    this.counters.lastPollMs = this.deps.clock.monotonic() - started;
    return values;
  }

  /** The value of a point after the round, updating its quarantine state. */
  private settle(p: S7Point, outcome: PointOutcome | undefined, conn: S7Connection): TagValue {
    if (!outcome) return this.quarantine.heldValue(p.name);
    const f = outcome.failure;
    if (!f) {
      this.quarantine.release(p.name);
      if (outcome.value.quality === 'bad') this.count(outcome.value.code);
      return outcome.value;
    }
    this.count(f.code);
    if (isTagFault(f.code) && conn.open) {
      if (!this.quarantine.has(p.name))
        this.logger.warn(
          { tag: p.name, code: f.code, plcCode: f.plcCode },
          's7 tag refused by the PLC; quarantined',
        );
      this.quarantine.fail(p.name, f.code, f.reason, f.plcCode);
    }
    return outcome.value;
  }

  private limits(conn: S7Connection): PlanLimits {
    return { pduSize: conn.pduSize, maxItems: this.config.maxItemsPerRequest, maxGap: this.config.maxGap };
  }

  /** Packed requests for these (non-quarantined) points; cached per set, PDU size and quarantine. */
  private plan(points: readonly S7Point[], limits: PlanLimits): readonly PlannedRequest[] {
    const epoch = `${limits.pduSize}/${this.quarantine.epoch}`;
    if (epoch !== this.plansEpoch) {
      this.plans.clear();
      this.plansEpoch = epoch;
    }
    const key = points.map((p) => p.name).join('\u0000');
    let plan = this.plans.get(key);
    if (!plan) {
      plan = packRequests(planItems(points, limits), limits);
      if (this.plans.size >= 256) this.plans.clear();
      this.plans.set(key, plan);
    }
    return plan;
  }

  private point(name: string): S7Point {
    if (!this.initialised) this.init();
    const p = this.points.get(name);
    if (!p)
      throw new EdgeError('EDGE_ERR_CONFIG_INVALID', `device ${this.device} has no tag "${name}"`, {
        context: { device: this.device, tag: name },
      });
    return p;
  }

  private bad(name: string, code: string, reason: string): TagValue {
    this.count(code);
    return badValue(name, code, reason);
  }

  private count(code: string): void {
    this.counters.errorsByCode[code] = (this.counters.errorsByCode[code] ?? 0) + 1;
  }

  async write(tag: string, value: WriteValue): Promise<void> {
    if (!this.initialised) this.init();
    return writeTag(
      {
        device: this.device,
        conn: this.conn,
        linkError: this.linkError,
        config: this.config,
        tags: this.tagConfigs,
        points: this.points,
      },
      tag,
      value,
    );
  }

  /** Requests one cycle of every tag takes with the current PDU (what an engineer checks). */
  private requestsForAllTags(): number | undefined {
    if (!this.conn) return undefined;
    const active = [...this.points.values()].filter((p) => !this.quarantine.has(p.name));
    return packRequests(planItems(active, this.limits(this.conn)), this.limits(this.conn)).length;
  }

  status(): Readonly<Record<string, unknown>> {
    return {
      state: this.state,
      pduSize: this.conn?.pduSize ?? null,
      maxJobs: this.conn?.maxJobs ?? null,
      requestsPerCycle: this.requestsForAllTags() ?? null,
      requestsLastPoll: this.counters.requestsLastPoll,
      requests: this.counters.requests,
      polls: this.counters.polls,
      lastPollMs: this.counters.lastPollMs ?? null,
      connects: this.counters.connects,
      connectFailures: this.counters.connectFailures,
      reconnects: this.counters.reconnects,
      lastError: this.state === 'up' ? null : { code: this.linkError.code, message: this.linkError.message },
      errorsByCode: { ...this.counters.errorsByCode },
      quarantined: this.quarantine
        .names()
        .map((name) => ({ tag: name, plcCode: this.quarantine.plcCode(name) ?? null })),
      probes: this.quarantine.probes,
      released: this.quarantine.released,
      splits: this.counters.splits,
      lateFrames: this.conn?.lateFrames ?? 0,
      inFlight: this.conn?.inFlight ?? 0,
      queued: this.conn?.queued ?? 0,
    };
  }
}
