/**
 * Signed OTA commands on `{prefix}/{site}/agent/ota`. The payload is an envelope
 *   { "command": "<JSON text>", "keyId": "<16 hex>", "sig": "<base64 Ed25519 over the UTF-8 bytes of command>" }
 * so the signature covers the exact bytes the signer produced (no canonicalisation to get
 * wrong). The command names its site (a command for one station is useless at another),
 * an id (replay guard, kept until it expires) and a validity window bounded by
 * `ota.commandMaxTtlSec`. Progress goes to `agent/ota/progress` and, per stage, to the
 * outbox as events, so it survives a broker outage.
 */
import { verify } from 'node:crypto';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { EdgeError, toEdgeError } from '../core/errors.js';
import type { CommandChannel, InboundMessage, Logger, OutboxSink } from '../core/ports.js';
import { eventToRecord } from '../core/record-codec.js';
import type { OtaControl } from './control.js';
import type { OtaProgress } from './engine.js';
import type { Keyring } from './verify.js';

export const OTA_COMMAND_TOPIC = 'agent/ota';
const OTA_PROGRESS_TOPIC = 'agent/ota/progress';

const envelopeSchema = z.strictObject({
  // The caller's bound (bytes) applies below; this one only stops absurd input early. It
  // must stay above reload.maxBytes's maximum (4 MiB) plus the signed JSON around a config.
  command: z
    .string()
    .min(2)
    .max(5 * 1024 * 1024),
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
  sig: z.string().min(1).max(200),
});

const commandSchema = z
  .strictObject({
    type: z.literal('ota-apply'),
    id: z.string().regex(/^[A-Za-z0-9_.:-]{8,128}$/, 'use 8–128 of letters, digits, "_.:-"'),
    site: z.string().min(1),
    agent: z.string().min(1).optional(),
    url: z.string().url(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    force: z.boolean().optional(),
    issuedAt: z.number().int().positive(),
    expiresAt: z.number().int().positive(),
  })
  .refine((c) => c.force !== true || c.sha256 !== undefined, {
    // force lifts the downgrade check: without a hash it would authorise whatever bytes the URL serves.
    message: 'force requires sha256 (the exact bundle it authorises)',
    path: ['sha256'],
  });

export type OtaCommand = z.infer<typeof commandSchema>;

export interface CommandPolicy {
  readonly keyring: Keyring;
  readonly site: string;
  readonly agentId: string;
  readonly now: number;
  readonly maxTtlMs: number;
  readonly clockSkewMs: number;
}

function refuse(reason: string, message: string, id?: string): EdgeError {
  return new EdgeError('EDGE_ERR_OTA_COMMAND', message, { context: { reason, ...(id ? { id } : {}) } });
}

type Refuse = (reason: string, message: string, id?: string) => EdgeError;

/**
 * The signed envelope `{command, keyId, sig}`: parses it, finds the pinned key and checks
 * the Ed25519 signature over the exact bytes of `command`; returns the signed JSON value.
 * Shared by every signed agent command (OTA here, remote config in src/reload/remote.ts).
 */
export function openSignedEnvelope(
  payload: Buffer,
  keyring: Keyring,
  what: string,
  refuseWith: Refuse,
  maxBytes = 8192,
): unknown {
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString('utf8'));
  } catch {
    throw refuseWith('malformed', `${what} is not JSON`);
  }
  const envelope = envelopeSchema.safeParse(raw);
  if (!envelope.success || Buffer.byteLength(envelope.data.command, 'utf8') > maxBytes)
    throw refuseWith(
      'unsigned',
      `${what} lacks the signed envelope {command, keyId, sig} (command at most ${maxBytes} bytes)`,
    );
  const key = keyring.get(envelope.data.keyId);
  if (!key)
    throw refuseWith('unknown-key', `${what} signed by key ${envelope.data.keyId}, which is not pinned`);
  const sig = Buffer.from(envelope.data.sig, 'base64');
  if (sig.length !== 64 || !verify(null, Buffer.from(envelope.data.command, 'utf8'), key, sig))
    throw refuseWith('bad-signature', `${what} signature does not verify`);
  try {
    return JSON.parse(envelope.data.command) as unknown;
  } catch {
    throw refuseWith('malformed', `signed ${what} is not JSON`);
  }
}

/** What a signed command says about where and when it is valid. */
export interface SignedScope {
  readonly id: string;
  readonly sites: readonly string[];
  readonly agent?: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** Site, agent and validity window of a verified command, against this station and its clock. */
export function checkScope(
  cmd: SignedScope,
  policy: Omit<CommandPolicy, 'keyring'>,
  what: string,
  refuseWith: Refuse,
): void {
  if (!cmd.sites.includes(policy.site))
    throw refuseWith(
      'wrong-site',
      `${what} is for site ${cmd.sites.join(', ')}, this is ${policy.site}`,
      cmd.id,
    );
  if (cmd.agent !== undefined && cmd.agent !== policy.agentId)
    throw refuseWith('wrong-agent', `${what} is for agent ${cmd.agent}`, cmd.id);
  if (cmd.expiresAt <= policy.now)
    throw refuseWith(
      'expired',
      `${what} ${cmd.id} expired at ${new Date(cmd.expiresAt).toISOString()}`,
      cmd.id,
    );
  if (cmd.issuedAt > policy.now + policy.clockSkewMs)
    throw refuseWith('future', `${what} ${cmd.id} is issued in the future (check the clock)`, cmd.id);
  if (cmd.expiresAt - cmd.issuedAt > policy.maxTtlMs || cmd.expiresAt <= cmd.issuedAt)
    throw refuseWith(
      'window',
      `${what} ${cmd.id} claims a validity window longer than ota.commandMaxTtlSec`,
      cmd.id,
    );
}

/** Authenticates and checks a command; pure but for the clock value passed in. */
export function verifyCommand(payload: Buffer, policy: CommandPolicy): OtaCommand {
  const body = openSignedEnvelope(payload, policy.keyring, 'OTA command', refuse);
  const parsed = commandSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw refuse('malformed', `OTA command: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const cmd = parsed.data;
  checkScope({ ...cmd, sites: [cmd.site] }, policy, 'OTA command', refuse);
  return cmd;
}

export interface OtaCommandHandlerOptions {
  readonly channel: CommandChannel;
  readonly engine: OtaControl;
  readonly keyring: Keyring;
  readonly site: string;
  readonly agentId: string;
  readonly maxTtlMs: number;
  readonly clockSkewMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly outbox?: OutboxSink;
}

export class OtaCommandHandler {
  private unsubscribe: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private handling = Promise.resolve();

  constructor(private readonly options: OtaCommandHandlerOptions) {}

  start(): void {
    this.unsubscribe ??= this.options.channel.subscribe(OTA_COMMAND_TOPIC, (message) => {
      // One message at a time: the replay guard must see the previous command's id.
      this.handling = this.handling
        .then(() => this.onMessage(message))
        .catch((error: unknown) =>
          this.options.logger.error({ err: String(error) }, 'OTA command handling failed'),
        );
    });
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** Resolves when received commands are handled and the update they started ended. */
  async whenIdle(): Promise<void> {
    await this.handling;
    await this.running;
  }

  /** Resumes an update a power cut interrupted while it was downloading or unpacking. */
  resumeInterrupted(): void {
    if (this.running) return;
    this.running = this.track(undefined, (onProgress) => this.options.engine.resume(onProgress));
  }

  private async onMessage(message: InboundMessage): Promise<void> {
    const { logger, clock } = this.options;
    let cmd: OtaCommand;
    try {
      cmd = verifyCommand(message.payload, {
        keyring: this.options.keyring,
        site: this.options.site,
        agentId: this.options.agentId,
        now: clock.now(),
        maxTtlMs: this.options.maxTtlMs,
        clockSkewMs: this.options.clockSkewMs,
      });
      if (this.running)
        throw new EdgeError('EDGE_ERR_OTA_BUSY', 'an update is already running', { context: { id: cmd.id } });
      const verdict = await this.options.engine.recordCommand(cmd);
      if (verdict !== true) throw refuse('replayed', `OTA command ${cmd.id} ${verdict}`, cmd.id);
    } catch (error) {
      const e = toEdgeError(error, 'EDGE_ERR_OTA_COMMAND');
      logger.warn(
        { code: e.code, reason: e.context.reason, id: e.context.id },
        `OTA command refused: ${e.message}`,
      );
      this.report(
        {
          id: typeof e.context.id === 'string' ? e.context.id : null,
          stage: 'refused',
          code: e.code,
          reason: e.context.reason ?? null,
          message: e.message,
        },
        true,
      );
      return;
    }
    logger.info({ id: cmd.id, url: new URL(cmd.url).host }, 'OTA command accepted');
    this.report({ id: cmd.id, stage: 'accepted' }, true);
    this.running = this.track(cmd.id, (onProgress) =>
      this.options.engine.apply({
        source: cmd.url,
        origin: 'command',
        force: cmd.force,
        sha256: cmd.sha256,
        commandId: cmd.id,
        // The privileged step honours force only from the signed command itself.
        ...(cmd.force === true ? { command: message.payload.toString('utf8') } : {}),
        onProgress,
      }),
    );
  }

  private track(
    id: string | undefined,
    run: (onProgress: (p: OtaProgress) => void) => Promise<unknown>,
  ): Promise<void> {
    let lastStage = '';
    let lastPct = -1;
    const onProgress = (p: OtaProgress): void => {
      const pct = p.total ? Math.floor((100 * (p.done ?? 0)) / p.total) : null;
      const stageChanged = p.stage !== lastStage;
      if (!stageChanged && (pct === null || pct < lastPct + 5)) return;
      lastStage = p.stage;
      lastPct = pct ?? -1;
      this.report({ id: id ?? null, ...p, pct }, stageChanged);
    };
    return run(onProgress)
      .then(() => undefined)
      .catch((error: unknown) => {
        const e = toEdgeError(error, 'EDGE_ERR_OTA_STATE');
        this.options.logger.error({ code: e.code, id }, `OTA update failed: ${e.message}`);
      })
      .finally(() => {
        this.running = undefined;
      });
  }

  /** Progress to MQTT (best effort) and, for stage changes, into the outbox as an event. */
  private report(data: Record<string, unknown>, durable: boolean): void {
    const body = { ...data, ts: this.options.clock.now() };
    this.options.channel.publish(OTA_PROGRESS_TOPIC, JSON.stringify(body)).catch(() => undefined);
    if (durable)
      this.options.outbox?.append(
        eventToRecord({
          device: 'agent',
          ts: body.ts,
          type: 'ota-progress',
          severity: data.stage === 'refused' || data.stage === 'failed' ? 'warning' : 'info',
          data: body,
        }),
      );
  }
}
