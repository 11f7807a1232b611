/** One Modbus device (a slave id on a line): plans, reads through its line, decodes. */
import { CircuitBreaker } from '../../core/breaker.js';
import { EdgeError } from '../../core/errors.js';
import type { DeviceDriver, Logger, TagSpec, WriteValue } from '../../core/ports.js';
import { badValue, type TagValue } from '../../core/types.js';
import type { Clock } from '../../core/clock.js';
import type { ModbusDeviceConfig, ModbusTagConfig } from './config.js';
import { decodeBit, decodeRegisters } from './codec.js';
import { isBreakerFailure, isDeviceAnswer } from './errors.js';
import type { Line, LineResult } from './line.js';
import { checkTagsFit, isBitFunction, Planner, type ModbusRequest } from './plan.js';
import type { LineRead } from './port.js';
import { PollSteps } from './poll-steps.js';
import type { ModbusDeviceStatus, ReadOutcome } from './device-status.js';
import { isRefusal, Refusals, subRequest } from './refusals.js';
import { planWrite } from './write.js';

const NO_PROBES: readonly { readonly tag: ModbusTagConfig }[] = [];

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

export type { ModbusDeviceStatus } from './device-status.js';

export class ModbusDevice implements DeviceDriver {
  readonly device: string;
  private readonly client: string;
  private readonly planner: Planner<ModbusTagConfig>;
  private readonly breaker: CircuitBreaker;
  private readonly refusals: Refusals;
  private readonly logger: Logger;
  private line: Line | undefined;
  private started = false;
  private readonly steps: PollSteps;
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
    this.steps = new PollSteps(config, this.planner, this.refusals, this.tagByName, (code) =>
      this.countError(code),
    );
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
    const prepared = this.steps.forNames(names, out);
    this.counters.polls++;
    if (!this.started || !this.line) {
      return names.map((n) =>
        badValue(n, 'EDGE_ERR_MODBUS_DISCONNECTED', `device ${this.device} is not started`),
      );
    }
    const line = this.line;
    for (const step of prepared) {
      let got: ReadOutcome | Promise<ReadOutcome>;
      if (this.config.retries === 0 && this.refusals.tags.size === 0) {
        // the usual read awaits the line alone: no async layers of read() and exchange()
        got =
          this.refused(step.request) ?? this.settle(step.request, await line.execute(this.client, step.read));
      } else got = this.read(step.request, step.read);
      const { values } = got instanceof Promise ? await got : got;
      for (let i = 0; i < values.length; i++) {
        const slots = step.slots[i];
        if (slots) for (const slot of slots) out[slot] = values[i]!;
      }
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

  /** One planned read; a refused coalesced read is split to find what the device refuses. */
  private async read(request: ModbusRequest<ModbusTagConfig>, lineRead: LineRead): Promise<ReadOutcome> {
    const early = this.refused(request);
    if (early) return early;
    // nothing quarantined (the usual case): no probe bookkeeping
    const quarantine = this.refusals.tags;
    const probing = quarantine.size > 0 ? request.tags.filter((t) => quarantine.has(t.tag.name)) : NO_PROBES;
    if (probing.length > 0) quarantine.noteProbe(probing.length);
    return this.outcome(request, await this.exchange(lineRead), probing);
  }

  /** The outcome of a read sent once (`retries: 0`), nothing quarantined. */
  private settle(
    request: ModbusRequest<ModbusTagConfig>,
    result: LineResult,
  ): ReadOutcome | Promise<ReadOutcome> {
    return this.outcome(request, this.settled(this.counted(result)), NO_PROBES);
  }

  /** The outcome of a read before it is sent: the link is down or the breaker is open; else undefined. */
  private refused(request: ModbusRequest<ModbusTagConfig>): ReadOutcome | undefined {
    const line = this.line!;
    if (line.linkUps !== this.linkUpsSeen) {
      // the link came (back) up: failures seen before it say nothing about the device
      this.linkUpsSeen = line.linkUps;
      if (this.breaker.consecutiveFailures > 0) this.logger.info({}, 'link up: circuit breaker reset');
      this.breaker.reset();
    }
    const down = line.linkDownError();
    if (down) return this.bad(request, down.code, down.message);
    if (!this.breaker.allows()) {
      return this.bad(
        request,
        'EDGE_ERR_MODBUS_CIRCUIT_OPEN',
        `circuit open after ${this.breaker.consecutiveFailures} failures`,
      );
    }
    return undefined;
  }

  /** The values of an answered read; a refused coalesced read is split (a promise then). */
  private outcome(
    request: ModbusRequest<ModbusTagConfig>,
    result: LineResult,
    probing: readonly { readonly tag: ModbusTagConfig }[],
  ): ReadOutcome | Promise<ReadOutcome> {
    if (result.ok) {
      if (probing.length > 0) this.released(probing);
      for (const hole of this.refusals.clearedBy(request))
        this.logger.info({ hole }, 'modbus register range read again; coalesced reads span it again');
      return { values: this.decode(request, result.data), answered: true };
    }
    const { error } = result;
    if (!isRefusal(error.code)) return this.bad(request, error.code, error.message);
    return this.refusal(request, error);
  }

  /** A read the device refused (exception 01/02/03): quarantine the tag, or split the read. */
  private async refusal(request: ModbusRequest<ModbusTagConfig>, error: EdgeError): Promise<ReadOutcome> {
    const quarantine = this.refusals.tags;
    const modbusCode = typeof error.context.modbusCode === 'number' ? error.context.modbusCode : undefined;
    const refusal = { code: error.code, reason: error.message, modbusCode };
    const [only] = request.tags;
    if (only && request.tags.length === 1) {
      if (quarantine.fail(only.tag.name, refusal.code, refusal.reason, modbusCode))
        this.logger.warn(
          { tag: only.tag.name, code: refusal.code, modbusCode },
          'modbus tag refused by the device; quarantined',
        );
      return { ...this.bad(request, refusal.code, refusal.reason), refusal };
    }
    return { values: await this.split(request, refusal), answered: false };
  }

  /** Every tag of the request bad with `code` (the device did not answer the read as a whole). */
  private bad(request: ModbusRequest<ModbusTagConfig>, code: string, reason: string): ReadOutcome {
    for (let i = 0; i < request.tags.length; i++) this.countError(code);
    return { values: request.tags.map((t) => badValue(t.tag.name, code, reason)), answered: false };
  }

  private released(probing: readonly { readonly tag: ModbusTagConfig }[]): void {
    for (const t of probing) {
      const left = this.refusals.tags.release(t.tag.name);
      if (left) this.logger.info({ tag: t.tag.name, ...left }, 'modbus tag read again; left quarantine');
    }
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
    const a = await this.read(left, this.steps.lineRead(left));
    const b = await this.read(right, this.steps.lineRead(right));
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
  private async exchange(read: LineRead): Promise<LineResult> {
    const line = this.line!;
    let result = this.counted(await line.execute(this.client, read));
    for (let attempt = 1; attempt <= this.config.retries; attempt++) {
      if (result.ok || !isRetryable(result.error.code)) break;
      result = this.counted(await line.execute(this.client, read));
    }
    return this.settled(result);
  }

  private counted(result: LineResult): LineResult {
    if (result.ok || result.error.code !== 'EDGE_ERR_MODBUS_DISCONNECTED') this.counters.requests++;
    return result;
  }

  /** The breaker and latency after a read's last attempt (the first one with `retries: 0`). */
  private settled(result: LineResult): LineResult {
    if (result.ok) {
      this.breaker.recordSuccess();
      this.counters.lastLatencyMs = result.latencyMs;
      return result;
    }
    const { error } = result;
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
    return result;
  }

  private decode(
    request: ModbusRequest<ModbusTagConfig>,
    data: readonly number[] | readonly boolean[],
  ): TagValue[] {
    const { tags } = request;
    const values = new Array<TagValue>(tags.length);
    if (isBitFunction(request.function)) {
      for (let i = 0; i < tags.length; i++)
        values[i] = decodeBit(tags[i]!.tag, Boolean(data[tags[i]!.offset]));
      return values;
    }
    for (let i = 0; i < tags.length; i++) {
      const value = decodeRegisters(tags[i]!.tag, data as readonly number[], tags[i]!.offset);
      if (value.quality === 'bad') this.countError(value.code);
      values[i] = value;
    }
    return values;
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
