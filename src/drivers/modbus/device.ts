/** One Modbus device (a slave id on a line): plans, reads through its line, decodes. */
import { CircuitBreaker, type BreakerState } from '../../core/breaker.js';
import { EdgeError } from '../../core/errors.js';
import type { DeviceDriver, Logger, TagSpec, WriteValue } from '../../core/ports.js';
import { badValue, type TagValue } from '../../core/types.js';
import type { Clock } from '../../core/clock.js';
import type { ModbusDeviceConfig, ModbusTagConfig } from './config.js';
import { decodeBit, decodeRegisters } from './codec.js';
import { isBreakerFailure, isDeviceAnswer } from './errors.js';
import type { Line, LineResult, LineStatus } from './line.js';
import { checkTagsFit, isBitFunction, Planner, tagSize, type ModbusRequest } from './plan.js';
import { isRefusal, Refusals, subRequest } from './refusals.js';
import { planWrite } from './write.js';

/** `retries` repeat a read that got no answer in time. */
const isRetryable = (code: string): boolean =>
  code === 'EDGE_ERR_MODBUS_TIMEOUT' || code === 'EDGE_ERR_MODBUS_LATE_ANSWER';

/** What a device needs from its family. */
export interface DeviceHost {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: () => number;
  /** Registers the device on its line; throws EDGE_ERR_CONFIG_INVALID on a conflict. */
  attach(device: ModbusDevice): Line;
  /** A family-unique id for the device's queue on its line. */
  nextClientId(): number;
}

interface PreparedStep {
  readonly request: ModbusRequest<ModbusTagConfig>;
  /** For each tag of the request, its positions in the polled names. */
  readonly slots: readonly (readonly number[])[];
}

/** A read's values, and whether the device answered the read as a whole. */
interface ReadOutcome {
  readonly values: TagValue[];
  readonly answered: boolean;
  readonly refusal?: { readonly code: string; readonly reason: string; readonly modbusCode?: number };
}

/** A Modbus device in status.json (a type alias, so it is a Record<string, unknown> for DeviceDriver). */
export type ModbusDeviceStatus = {
  readonly polls: number;
  readonly requests: number;
  readonly errors: number;
  readonly errorsByCode: Readonly<Record<string, number>>;
  readonly lastLatencyMs: number | undefined;
  readonly breaker: BreakerState;
  readonly breakerOpens: number;
  readonly writes: number;
  readonly writeErrors: number;
  readonly consecutiveFailures: number;
  readonly line: LineStatus | { readonly state: 'idle' };
  readonly plansCached: number;
  readonly splits: number;
  readonly quarantined: readonly { readonly tag: string; readonly modbusCode: number | null }[];
  readonly holes: ReturnType<Refusals['holeList']>;
  readonly probes: number;
  readonly released: number;
};

export class ModbusDevice implements DeviceDriver {
  readonly device: string;
  private readonly client: string;
  private readonly planner: Planner<ModbusTagConfig>;
  private readonly breaker: CircuitBreaker;
  private readonly refusals: Refusals;
  private readonly logger: Logger;
  private line: Line | undefined;
  private started = false;
  private readonly prepared = new Map<string, readonly PreparedStep[]>();
  private initialised = false;
  /** The line's `linkUps` when this device last read. */
  private linkUpsSeen = 0;
  private readonly counters = {
    polls: 0,
    requests: 0,
    errors: 0,
    errorsByCode: {} as Record<string, number>,
    lastLatencyMs: undefined as number | undefined,
    breakerOpens: 0,
    splits: 0,
    writes: 0,
    writeErrors: 0,
  };
  private readonly tagByName: ReadonlyMap<string, ModbusTagConfig>;

  constructor(
    readonly config: ModbusDeviceConfig,
    private readonly host: DeviceHost,
  ) {
    this.device = config.name;
    this.client = `${config.name}#${host.nextClientId()}`;
    this.logger = host.logger.child({ device: config.name });
    this.planner = new Planner(config.tags, config);
    this.breaker = new CircuitBreaker(config.breaker, () => host.clock.monotonic());
    this.refusals = new Refusals(config.quarantine, host.random, () => host.clock.monotonic());
    this.tagByName = new Map(config.tags.map((t) => [t.name, t]));
  }

  init(): void {
    if (this.initialised) return;
    checkTagsFit(this.config.tags, this.config, this.device);
    this.line = this.host.attach(this);
    this.initialised = true;
  }

  tags(): readonly TagSpec[] {
    return this.config.tags.map((t) => ({
      name: t.name,
      intervalMs: t.intervalMs ?? this.config.intervalMs,
    }));
  }

  async start(): Promise<void> {
    if (!this.initialised) this.init();
    if (this.started) return;
    try {
      await this.line!.acquire();
    } catch (err) {
      const code = err instanceof EdgeError ? err.code : 'EDGE_ERR_MODBUS_CONNECT';
      throw new EdgeError('EDGE_ERR_DRIVER_START', `modbus device ${this.device}: cannot connect (${code})`, {
        cause: err,
        context: { device: this.device, line: this.line!.key, code },
      });
    }
    this.started = true;
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.line?.release();
  }

  async poll(names: readonly string[]): Promise<readonly TagValue[]> {
    const out = new Array<TagValue>(names.length);
    const prepared = this.refusals.empty ? this.prepare(names) : this.prepareAround(names, out);
    this.counters.polls++;
    if (!this.started || !this.line) {
      return names.map((n) =>
        badValue(n, 'EDGE_ERR_MODBUS_DISCONNECTED', `device ${this.device} is not started`),
      );
    }
    for (const step of prepared) {
      const { values } = await this.read(step.request);
      values.forEach((value, i) => {
        for (const slot of step.slots[i] ?? []) out[slot] = value;
      });
    }
    return out;
  }

  /**
   * One write of a `writable` tag (FC05/06/15/16), exactly one attempt: the device's
   * `retries` apply to reads only. Rejects with EDGE_ERR_CMD_* before any I/O when the tag
   * or value is wrong, else with the Modbus code (exception code in context.modbusCode).
   */
  async write(tagName: string, value: WriteValue): Promise<void> {
    const context = { device: this.device, tag: tagName };
    const tag = this.tagByName.get(tagName);
    if (!tag)
      throw new EdgeError('EDGE_ERR_CMD_UNKNOWN_TAG', `device ${this.device} has no tag "${tagName}"`, {
        context,
      });
    if (!tag.writable)
      throw new EdgeError(
        'EDGE_ERR_CMD_NOT_WRITABLE',
        `tag ${tagName} of ${this.device} is not writable (writable: true in its config)`,
        { context },
      );
    const plan = planWrite(tag, value, this.config.writeFunction === 'multiple');
    const line = this.line;
    if (!this.started || !line)
      throw new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', `device ${this.device} is not started`, {
        context: { ...context, sent: false },
      });
    if (!line.canWrite)
      throw new EdgeError(
        'EDGE_ERR_CMD_UNSUPPORTED',
        `line ${line.key} of ${this.device} cannot carry writes`,
        { context },
      );
    if (!this.breaker.allows())
      throw new EdgeError(
        'EDGE_ERR_MODBUS_CIRCUIT_OPEN',
        `circuit open after ${this.breaker.consecutiveFailures} failures; nothing was written`,
        { context: { ...context, sent: false } },
      );
    this.counters.writes++;
    const result = await line.execute(this.client, {
      kind: 'write',
      unitId: this.config.unitId,
      ...plan,
      timeoutMs: this.config.timeoutMs,
    });
    if (result.ok) return;
    this.counters.writeErrors++;
    const { error } = result;
    const unknown = isRetryable(error.code)
      ? ': no answer in time, the write may or may not have taken effect'
      : '';
    throw new EdgeError(
      error.code,
      `write ${tagName} (FC${plan.fc}) on ${this.device}: ${error.message}${unknown}`,
      {
        cause: error,
        context: { ...error.context, ...context, fc: plan.fc },
      },
    );
  }

  /** The plan for this exact list of names, with where each value goes; cached. */
  private prepare(names: readonly string[]): readonly PreparedStep[] {
    const key = names.join('\u0000');
    const hit = this.prepared.get(key);
    if (hit) return hit;
    const positions = new Map<string, number[]>();
    names.forEach((name, i) => {
      if (!this.planner.has(name)) {
        throw new EdgeError('EDGE_ERR_CONFIG_INVALID', `device ${this.device} has no tag "${name}"`, {
          context: { device: this.device, tag: name },
        });
      }
      const list = positions.get(name);
      if (list) list.push(i);
      else positions.set(name, [i]);
    });
    const steps = this.planner.plan(names).map((request) => ({
      request,
      slots: request.tags.map((t) => positions.get(t.tag.name) ?? []),
    }));
    if (this.prepared.size >= 256) this.prepared.clear();
    this.prepared.set(key, steps);
    return steps;
  }

  /**
   * Steps around what the device refused: quarantined tags get their held value in `out`
   * (or are probed alone when due) and the rest is planned without reading across holes.
   * Not cached: which probes are due changes with time.
   */
  private prepareAround(names: readonly string[], out: TagValue[]): readonly PreparedStep[] {
    this.prepare(names); // validates the names
    const positions = new Map<string, number[]>();
    const normal: string[] = [];
    const probes: string[] = [];
    names.forEach((name, i) => {
      const q = this.refusals.tags;
      if (q.has(name) && !q.isDue(name)) {
        const held = q.heldValue(name);
        if (held.quality === 'bad') this.countError(held.code);
        out[i] = held;
        return;
      }
      const list = positions.get(name);
      if (list) list.push(i);
      else {
        positions.set(name, [i]);
        (q.has(name) ? probes : normal).push(name);
      }
    });
    // A quarantined tag's own registers are refused too: no coalesced read may span them.
    const barriers = this.refusals.barriers();
    for (const name of this.refusals.tags.names()) {
      const tag = this.tagByName.get(name);
      if (tag) barriers.push({ function: tag.function, from: tag.address, to: tag.address + tagSize(tag) });
    }
    const requests = [
      ...this.planner.plan(normal, barriers),
      ...probes.flatMap((name) => this.planner.plan([name])),
    ];
    return requests.map((request) => ({
      request,
      slots: request.tags.map((t) => positions.get(t.tag.name) ?? []),
    }));
  }

  /** One planned read; a refused coalesced read is split to find what the device refuses. */
  private async read(request: ModbusRequest<ModbusTagConfig>): Promise<ReadOutcome> {
    const bad = (code: string, reason: string): ReadOutcome => {
      for (let i = 0; i < request.tags.length; i++) this.countError(code);
      return { values: request.tags.map((t) => badValue(t.tag.name, code, reason)), answered: false };
    };
    const line = this.line!;
    if (line.linkUps !== this.linkUpsSeen) {
      // the link came (back) up: failures seen before it say nothing about the device
      this.linkUpsSeen = line.linkUps;
      if (this.breaker.consecutiveFailures > 0) this.logger.info({}, 'link up: circuit breaker reset');
      this.breaker.reset();
    }
    const down = line.linkDownError();
    if (down) return bad(down.code, down.message);
    if (!this.breaker.allows()) {
      return bad(
        'EDGE_ERR_MODBUS_CIRCUIT_OPEN',
        `circuit open after ${this.breaker.consecutiveFailures} failures`,
      );
    }
    const probing = request.tags.filter((t) => this.refusals.tags.has(t.tag.name));
    this.refusals.tags.noteProbe(probing.length);
    const result = await this.exchange(request);
    if (result.ok) {
      for (const t of probing) {
        const left = this.refusals.tags.release(t.tag.name);
        if (left) this.logger.info({ tag: t.tag.name, ...left }, 'modbus tag read again; left quarantine');
      }
      for (const hole of this.refusals.clearedBy(request))
        this.logger.info({ hole }, 'modbus register range read again; coalesced reads span it again');
      return { values: this.decode(request, result.data), answered: true };
    }
    const { error } = result;
    if (!isRefusal(error.code)) return bad(error.code, error.message);
    const modbusCode = typeof error.context.modbusCode === 'number' ? error.context.modbusCode : undefined;
    const refusal = { code: error.code, reason: error.message, modbusCode };
    const [only] = request.tags;
    if (only && request.tags.length === 1) {
      if (this.refusals.tags.fail(only.tag.name, refusal.code, refusal.reason, modbusCode))
        this.logger.warn(
          { tag: only.tag.name, code: refusal.code, modbusCode },
          'modbus tag refused by the device; quarantined',
        );
      return { ...bad(refusal.code, refusal.reason), refusal };
    }
    return { values: await this.split(request, refusal), answered: false };
  }

  /**
   * A refused coalesced read, in halves: good tags are read now, a tag refused alone gets
   * quarantined, and when both halves read fine the gap between them is the hole.
   */
  private async split(
    request: ModbusRequest<ModbusTagConfig>,
    refusal: NonNullable<ReadOutcome['refusal']>,
  ): Promise<TagValue[]> {
    this.counters.splits++;
    const half = Math.ceil(request.tags.length / 2);
    const left = subRequest(request, request.tags.slice(0, half));
    const right = subRequest(request, request.tags.slice(half));
    const a = await this.read(left);
    const b = await this.read(right);
    if (a.answered && b.answered) {
      const hole = { function: request.function, from: left.address + left.length, to: right.address };
      if (this.refusals.failHole(hole, refusal.code, refusal.reason, refusal.modbusCode))
        this.logger.warn(
          { hole, code: refusal.code },
          'modbus device refuses reads across this register range; coalesced reads avoid it',
        );
    }
    return [...a.values, ...b.values];
  }

  /** Sends the read, repeating it after a timeout up to `retries` times; feeds the breaker. */
  private async exchange(request: ModbusRequest<ModbusTagConfig>): Promise<LineResult> {
    const line = this.line!;
    let result: LineResult | undefined;
    for (let attempt = 0; attempt <= this.config.retries; attempt++) {
      result = await line.execute(this.client, {
        unitId: this.config.unitId,
        function: request.function,
        address: request.address,
        length: request.length,
        timeoutMs: this.config.timeoutMs,
      });
      if (result.ok || result.error.code !== 'EDGE_ERR_MODBUS_DISCONNECTED') this.counters.requests++;
      if (result.ok || !isRetryable(result.error.code)) break;
    }
    if (!result!.ok) {
      const { error } = result!;
      if (isBreakerFailure(error.code)) {
        if (this.breaker.recordFailure()) {
          this.counters.breakerOpens++;
          this.logger.warn(
            { failures: this.breaker.consecutiveFailures, code: error.code },
            'modbus circuit opened',
          );
        }
      } else if (isDeviceAnswer(error.code)) {
        this.breaker.recordSuccess();
      }
      return result!;
    }
    this.breaker.recordSuccess();
    this.counters.lastLatencyMs = result!.latencyMs;
    return result!;
  }

  private decode(
    request: ModbusRequest<ModbusTagConfig>,
    data: readonly number[] | readonly boolean[],
  ): TagValue[] {
    return request.tags.map((p) => {
      if (isBitFunction(request.function)) return decodeBit(p.tag, Boolean(data[p.offset]));
      const value = decodeRegisters(p.tag, data as readonly number[], p.offset);
      if (value.quality === 'bad') this.countError(value.code);
      return value;
    });
  }

  private countError(code: string): void {
    this.counters.errors++;
    this.counters.errorsByCode[code] = (this.counters.errorsByCode[code] ?? 0) + 1;
  }

  status(): ModbusDeviceStatus {
    return {
      polls: this.counters.polls,
      requests: this.counters.requests,
      errors: this.counters.errors,
      errorsByCode: { ...this.counters.errorsByCode },
      lastLatencyMs: this.counters.lastLatencyMs,
      breaker: this.breaker.state,
      breakerOpens: this.counters.breakerOpens,
      writes: this.counters.writes,
      writeErrors: this.counters.writeErrors,
      consecutiveFailures: this.breaker.consecutiveFailures,
      line: this.line?.status() ?? { state: 'idle' },
      plansCached: this.planner.cacheSize,
      splits: this.counters.splits,
      quarantined: this.refusals.tags
        .names()
        .map((tag) => ({ tag, modbusCode: this.refusals.tags.peerCode(tag) ?? null })),
      holes: this.refusals.holeList(),
      probes: this.refusals.tags.probes,
      released: this.refusals.tags.released + this.refusals.holes.released,
    };
  }
}
