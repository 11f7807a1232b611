/**
 * Signed configs on `{prefix}/{site}/agent/config/set`. The envelope and its checks are the
 * OTA commands' (src/ota/command.ts: Ed25519 over the exact text of `command`, pinned keys,
 * site, validity window); the signed JSON is
 *   { "type": "config-set", "id": "…", "sites": ["st-0042", …] | "site": "st-0042",
 *     "agent"?: "…", "version"?: "2026-12-02.1", "issuedAt": ms, "expiresAt": ms,
 *     "config": "<YAML text>" }
 * One document may name many sites (the fleet case). Accepted ids are kept in the config
 * history until they expire (replay guard, durable). A config that leaves out `agent.id` or
 * `agent.site` keeps the station's own: the fleet template needs no per-station copy.
 */
import { isMap, parseDocument } from 'yaml';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { EdgeError, toEdgeError } from '../core/errors.js';
import type { CommandChannel, InboundMessage, Logger } from '../core/ports.js';
import type { EdgeConfig } from '../config/schema.js';
import { checkScope, openSignedEnvelope } from '../ota/command.js';
import type { Keyring } from '../ota/verify.js';
import type { ConfigHistory } from './history.js';
import type { Reloader } from './reloader.js';
import { configHash } from './validate.js';

export const CONFIG_SET_TOPIC = 'agent/config/set';

const pushSchema = z
  .strictObject({
    type: z.literal('config-set'),
    id: z.string().regex(/^[A-Za-z0-9_.:-]{8,128}$/, 'use 8–128 of letters, digits, "_.:-"'),
    site: z.string().min(1).optional(),
    sites: z.array(z.string().min(1)).min(1).max(10_000).optional(),
    agent: z.string().min(1).optional(),
    version: z.string().min(1).max(128).optional(),
    issuedAt: z.number().int().positive(),
    expiresAt: z.number().int().positive(),
    config: z.string().min(1),
  })
  .refine((c) => (c.site === undefined) !== (c.sites === undefined), {
    message: 'name the stations with exactly one of site or sites',
    path: ['sites'],
  });

export interface RemoteConfigOptions {
  readonly channel: CommandChannel;
  readonly reloader: Reloader;
  readonly history: ConfigHistory;
  readonly keyring: Keyring;
  readonly running: () => EdgeConfig;
  readonly maxTtlMs: number;
  readonly clockSkewMs: number;
  readonly maxBytes: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

function refuse(reason: string, message: string, id?: string): EdgeError {
  return new EdgeError('EDGE_ERR_CONFIG_PUSH', message, { context: { reason, ...(id ? { id } : {}) } });
}

/**
 * Fills the station's own agent.id and agent.site into a fleet template that leaves them out.
 * A document that is not a mapping, or whose `agent` is not one, comes back as it is: the
 * validation refuses it with its path (yaml's setIn would throw, and the push get no result).
 */
export function withStationKeys(text: string, running: EdgeConfig): string {
  const doc = parseDocument(text);
  if (doc.errors.length > 0 || !isMap(doc.contents)) return text;
  if (doc.has('agent') && !isMap(doc.get('agent', true))) return text;
  let changed = false;
  for (const key of ['id', 'site'] as const) {
    if (!doc.hasIn(['agent', key])) {
      if (!doc.has('agent')) doc.set('agent', doc.createNode({}));
      doc.setIn(['agent', key], running.agent[key]);
      changed = true;
    }
  }
  return changed ? doc.toString() : text;
}

export class RemoteConfig {
  private unsubscribe: (() => void) | undefined;
  private handling: Promise<void> = Promise.resolve();

  constructor(private readonly options: RemoteConfigOptions) {}

  start(): void {
    this.unsubscribe ??= this.options.channel.subscribe(CONFIG_SET_TOPIC, (message) => {
      // One at a time: the replay guard must see the previous push's id.
      this.handling = this.handling
        .then(() => this.onMessage(message))
        .catch((error: unknown) =>
          this.options.logger.error({ err: String(error) }, 'config push handling failed'),
        );
    });
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** Resolves when the pushes received so far are handled; tests await it. */
  whenIdle(): Promise<void> {
    return this.handling;
  }

  private async onMessage(message: InboundMessage): Promise<void> {
    const { clock, logger, running } = this.options;
    const now = clock.now();
    let cmd: z.infer<typeof pushSchema>;
    try {
      // A retained push would come back at every subscribe: refused like retained commands.
      if (message.retained === true) throw refuse('retained', 'config push is a retained message');
      const body = openSignedEnvelope(
        message.payload,
        this.options.keyring,
        'config push',
        refuse,
        this.options.maxBytes,
      );
      const parsed = pushSchema.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw refuse('malformed', `config push: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
      }
      cmd = parsed.data;
      const config = running();
      checkScope(
        { ...cmd, sites: cmd.sites ?? [cmd.site ?? ''] },
        {
          site: config.agent.site,
          agentId: config.agent.id,
          now,
          maxTtlMs: this.options.maxTtlMs,
          clockSkewMs: this.options.clockSkewMs,
        },
        'config push',
        refuse,
      );
      if (!(await this.options.history.claimId(cmd.id, cmd.expiresAt, now, cmd.issuedAt)))
        throw refuse(
          'replayed',
          `config push ${cmd.id} was already accepted once, or may have been (its id is no longer kept, or it was issued before the replay guard was re-created after its state was lost: sign it again)`,
          cmd.id,
        );
    } catch (error) {
      const e = toEdgeError(error, 'EDGE_ERR_CONFIG_PUSH');
      const id = typeof e.context.id === 'string' ? e.context.id : undefined;
      logger.warn({ code: e.code, reason: e.context.reason, id }, `config push refused: ${e.message}`);
      await this.options.reloader.refuse({
        hash: '',
        reason: `${typeof e.context.reason === 'string' ? e.context.reason : 'refused'}: ${e.message}`,
        problems: [{ path: '(envelope)', message: e.message, code: e.code }],
        ...(id !== undefined ? { id } : {}),
      });
      return;
    }
    const text = withStationKeys(cmd.config, running());
    logger.info({ id: cmd.id, version: cmd.version, hash: configHash(text) }, 'config push accepted');
    await this.options.reloader.applyText(text, {
      source: 'push',
      id: cmd.id,
      ...(cmd.version !== undefined ? { version: cmd.version } : {}),
    });
  }
}
