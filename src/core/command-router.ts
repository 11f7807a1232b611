/**
 * Device commands: `{device}/cmd` messages (via the CommandChannel port) become one
 * driver write each, and the outcome is published on `{device}/cmd/result` and kept in
 * the outbox as a `command-result` event (a result published while the broker is away
 * is not lost).
 *
 * Rules: a retained or stale command is refused (command-guard.ts); a write needs
 * `allowWrites` for the device; the driver checks the tag is writable and the value fits;
 * `driver.write` is called at most once per command id, across restarts too (the id is
 * claimed in the durable ledger before the write), and never retried (repeating a command
 * to a machine is not harmless). A redelivered id (QoS 1) is answered with the stored
 * result, even while the first is still running.
 * Commands to one device run in arrival order, at most `maxPendingPerDevice` waiting.
 * A malformed payload never throws: it gets a `rejected` result when its id can be read,
 * otherwise a counted log line.
 */
import type { Clock } from './clock.js';
import {
  CommandGate,
  type CommandLedger,
  DEFAULT_FRESHNESS,
  type FreshnessPolicy,
  type RefusalReason,
} from './command-guard.js';
import {
  type CommandResult,
  MAX_ID_LENGTH,
  commandPayloadSchema,
  resultFromError,
} from './command-result.js';
import { EdgeError } from './errors.js';
import type {
  CommandChannel,
  DeviceDriver,
  InboundMessage,
  Logger,
  OutboxSink,
  WriteValue,
} from './ports.js';
import { eventToRecord } from './record-codec.js';

export interface CommandTarget {
  readonly device: string;
  readonly driver: DeviceDriver;
  readonly allowWrites: boolean;
}

export {
  type CommandPayload,
  type CommandResult,
  type CommandStatus,
  commandPayloadSchema,
  resultFromError,
} from './command-result.js';

export interface CommandRouterOptions extends Partial<FreshnessPolicy> {
  readonly timeoutMs: number;
  readonly maxPendingPerDevice: number;
  readonly dedupeSize: number;
  readonly maxPayloadBytes: number;
}

export interface CommandRouterDeps {
  readonly channel: CommandChannel;
  readonly sink: OutboxSink;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Where command ids are kept across restarts; default: in RAM (lost at restart). */
  readonly ledger?: CommandLedger;
}

interface Entry {
  readonly result: Promise<CommandResult>;
  settled: boolean;
}

interface Lane {
  tail: Promise<unknown>;
  pending: number;
}

export interface CommandRouterStats {
  readonly devices: number;
  readonly received: number;
  readonly executed: number;
  readonly done: number;
  readonly errors: number;
  readonly rejected: number;
  readonly duplicates: number;
  readonly malformed: number;
  readonly publishFailures: number;
  readonly pending: number;
  /** Commands refused before running, by reason (retained, expired, duplicate after restart…). */
  readonly refused: Readonly<Partial<Record<RefusalReason, number>>>;
}

export class CommandRouter {
  private readonly targets: CommandTarget[];
  private readonly recent = new Map<string, Entry>();
  private readonly lanes = new Map<string, Lane>();
  private readonly inflight = new Set<Promise<unknown>>();
  private unsubscribes: Array<() => void> = [];
  private readonly gate: CommandGate;
  private readonly counts = {
    received: 0,
    executed: 0,
    done: 0,
    errors: 0,
    rejected: 0,
    duplicates: 0,
    malformed: 0,
    publishFailures: 0,
  };

  constructor(
    targets: readonly CommandTarget[],
    private readonly options: CommandRouterOptions,
    private readonly deps: CommandRouterDeps,
  ) {
    this.targets = targets.filter((t) => typeof t.driver.write === 'function');
    const policy: FreshnessPolicy = {
      requireExpiry: options.requireExpiry ?? DEFAULT_FRESHNESS.requireExpiry,
      maxAgeMs: options.maxAgeMs ?? DEFAULT_FRESHNESS.maxAgeMs,
      clockSkewMs: options.clockSkewMs ?? DEFAULT_FRESHNESS.clockSkewMs,
    };
    this.gate = new CommandGate(policy, deps.ledger);
  }

  /** Subscribes `{device}/cmd` for every device whose driver can write. */
  start(): void {
    if (this.unsubscribes.length > 0) return;
    for (const target of this.targets) {
      this.unsubscribes.push(
        this.deps.channel.subscribe(`${target.device}/cmd`, (message) => this.onMessage(target, message)),
      );
    }
  }

  /** Unsubscribes, then waits for the commands already accepted. */
  async stop(): Promise<void> {
    for (const unsubscribe of this.unsubscribes) unsubscribe();
    this.unsubscribes = [];
    await Promise.all([...this.inflight]);
  }

  stats(): CommandRouterStats {
    let pending = 0;
    for (const lane of this.lanes.values()) pending += lane.pending;
    return { devices: this.targets.length, ...this.counts, pending, refused: this.gate.refused.snapshot() };
  }

  private onMessage(target: CommandTarget, message: InboundMessage): void {
    try {
      this.handle(target, message);
    } catch (error) {
      // never into the broker client: a bug here must not take the channel down
      this.deps.logger.error({ device: target.device, err: String(error) }, 'command handling failed');
    }
  }

  private handle(target: CommandTarget, message: InboundMessage): void {
    this.counts.received++;
    const parsed = this.parse(target, message.payload);
    if (!parsed) return;
    const key = `${target.device}\u0000${parsed.id}`;
    const seen = this.recent.get(key);
    if (seen) {
      this.answerDuplicate(target, parsed.id, seen.result);
      return;
    }
    const gate = this.gate.check(message, parsed.body, `cmd\u0000${key}`, this.deps.clock.now());
    if ('refusal' in gate) {
      const { refusal } = gate;
      this.refuse(target, parsed, refusal.reason, new EdgeError(refusal.code, refusal.message));
      return;
    }
    const { claim } = gate;
    if (!claim.fresh) {
      if (claim.result !== null) {
        this.answerDuplicate(target, parsed.id, Promise.resolve(JSON.parse(claim.result) as CommandResult));
        return;
      }
      const message = `command ${parsed.id} was received at ${new Date(claim.ts).toISOString()} and the agent restarted before its outcome was known: not run again`;
      this.refuse(target, parsed, 'duplicate', new EdgeError('EDGE_ERR_CMD_DUPLICATE', message));
      return;
    }
    const result = this.execute(target, parsed.id, parsed.body);
    const entry: Entry = { result, settled: false };
    this.remember(key, entry);
    this.track(
      result.then(async (r) => {
        entry.settled = true;
        this.trim();
        this.record(target, r, parsed.body);
        this.settle(`cmd\u0000${key}`, r);
        await this.publish(target, r);
      }),
    );
  }

  /** Keeps the result for later duplicates; a failure only costs that answer (the id stays claimed). */
  private settle(ledgerKey: string, result: CommandResult): void {
    this.gate.settle(ledgerKey, JSON.stringify(result), (error) => {
      this.deps.logger.warn({ id: result.id, err: String(error) }, 'command result not kept in the ledger');
    });
  }

  private answerDuplicate(target: CommandTarget, id: string, result: Promise<CommandResult>): void {
    this.counts.duplicates++;
    this.deps.logger.info(
      { device: target.device, id },
      'duplicate command id: answering with the stored result',
    );
    this.track(result.then((r) => this.publish(target, r)));
  }

  /** Refused before anything ran: counted by reason, recorded and answered. */
  private refuse(
    target: CommandTarget,
    parsed: { id: string; body: Record<string, unknown> },
    reason: RefusalReason,
    error: EdgeError,
  ): void {
    this.gate.refused.add(reason);
    const result = resultFromError(parsed.id, error, this.deps.clock.now());
    this.record(target, result, parsed.body);
    this.track(this.publish(target, result));
  }

  /** The id and the decoded body, or undefined (counted, logged) when no id can be read. */
  private parse(
    target: CommandTarget,
    payload: Buffer,
  ): { id: string; body: Record<string, unknown> } | undefined {
    const malformed = (why: string, reason: RefusalReason = 'malformed'): undefined => {
      this.counts.malformed++;
      this.gate.refused.add(reason);
      this.deps.logger.warn(
        { device: target.device, bytes: payload.length, malformed: this.counts.malformed, why },
        'malformed command dropped',
      );
      return undefined;
    };
    if (payload.length > this.options.maxPayloadBytes)
      return malformed(`payload over ${this.options.maxPayloadBytes} bytes`, 'oversized');
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return malformed('not JSON');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return malformed('not an object');
    const record = body as Record<string, unknown>;
    const id = record.id;
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH)
      return malformed('no string id (1…128 characters)');
    return { id, body: record };
  }

  private async execute(target: CommandTarget, id: string, body: unknown): Promise<CommandResult> {
    const now = (): number => this.deps.clock.now();
    const checked = commandPayloadSchema.safeParse(body);
    if (!checked.success) {
      const issue = checked.error.issues[0]!;
      const field = issue.path.length > 0 ? issue.path.join('.') : '(payload)';
      return resultFromError(
        id,
        new EdgeError('EDGE_ERR_CMD_INVALID', `${field}: ${issue.message}`, { context: { field } }),
        now(),
      );
    }
    const command = checked.data;
    if (!target.allowWrites) {
      const message = `writes to ${target.device} are not allowed (set commands.allowWrites)`;
      return resultFromError(id, new EdgeError('EDGE_ERR_CMD_NOT_ALLOWED', message), now());
    }
    const lane = this.lane(target.device);
    if (lane.pending >= this.options.maxPendingPerDevice) {
      const message = `${lane.pending} commands already pending for ${target.device}`;
      return resultFromError(id, new EdgeError('EDGE_ERR_CMD_BUSY', message), now());
    }
    lane.pending++;
    const run = lane.tail.then(() => this.write(target, id, command.tag, command.value));
    lane.tail = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      lane.pending--;
    }
  }

  /** The one write attempt, bounded by timeoutMs (after which the outcome is unknown). */
  private async write(
    target: CommandTarget,
    id: string,
    tag: string,
    value: WriteValue,
  ): Promise<CommandResult> {
    const { clock, logger } = this.deps;
    this.counts.executed++;
    let timer: { cancel(): void } | undefined;
    const timeout = new Promise<'timeout'>(
      (resolve) => (timer = clock.setTimeout(() => resolve('timeout'), this.options.timeoutMs)),
    );
    const attempt = Promise.resolve()
      .then(() => target.driver.write!(tag, value))
      .then(() => 'done' as const);
    try {
      const outcome = await Promise.race([attempt, timeout]);
      if (outcome === 'done') return { id, status: 'done', ts: clock.now() };
      attempt.then(
        () => logger.warn({ device: target.device, id, tag }, 'write confirmed after its command timed out'),
        () => undefined,
      );
      const message = `no confirmation within ${this.options.timeoutMs} ms: the write may or may not have taken effect`;
      return resultFromError(id, new EdgeError('EDGE_ERR_CMD_TIMEOUT', message), clock.now());
    } catch (thrown) {
      return resultFromError(id, thrown, clock.now());
    } finally {
      timer?.cancel();
    }
  }

  private lane(device: string): Lane {
    let lane = this.lanes.get(device);
    if (!lane) {
      lane = { tail: Promise.resolve(), pending: 0 };
      this.lanes.set(device, lane);
    }
    return lane;
  }

  /** Keeps the id; evicts the oldest finished ids beyond dedupeSize (running ones stay). */
  private remember(key: string, entry: Entry): void {
    this.recent.set(key, entry);
    this.trim();
  }

  private trim(): void {
    if (this.recent.size <= this.options.dedupeSize) return;
    for (const [k, e] of this.recent) {
      if (this.recent.size <= this.options.dedupeSize) break;
      if (e.settled) this.recent.delete(k);
    }
  }

  /** The result as an outbox event: kept even when the broker is away. */
  private record(target: CommandTarget, result: CommandResult, body: unknown): void {
    const counter = result.status === 'done' ? 'done' : result.status === 'error' ? 'errors' : 'rejected';
    this.counts[counter]++;
    const command = commandPayloadSchema.safeParse(body);
    const severity = result.status === 'done' ? 'info' : result.status === 'error' ? 'error' : 'warning';
    const data = {
      ...result,
      ...(command.success ? { tag: command.data.tag, value: command.data.value } : {}),
    };
    const level = result.status === 'done' ? 'info' : 'warn';
    this.deps.logger[level](
      { device: target.device, id: result.id, status: result.status, code: result.code },
      'command result',
    );
    this.deps.sink.append(
      eventToRecord({ device: target.device, ts: result.ts, type: 'command-result', severity, data }),
    );
  }

  private async publish(target: CommandTarget, result: CommandResult): Promise<void> {
    try {
      await this.deps.channel.publish(`${target.device}/cmd/result`, JSON.stringify(result));
    } catch (error) {
      this.counts.publishFailures++;
      this.deps.logger.warn(
        { device: target.device, id: result.id, err: String(error) },
        'command result not published (kept in the outbox)',
      );
    }
  }

  private track(work: Promise<unknown>): void {
    const p = work.catch((error: unknown) =>
      this.deps.logger.error({ err: String(error) }, 'command bookkeeping failed'),
    );
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }
}
