/**
 * Commands from MQTT for piles: `{pile}/cmd` carries `{id, command, params?}`; the result
 * goes to `{pile}/cmd/result` as `{id, command, ok, result?, error?}` (and is stored as a
 * cip22-cmd-result event by the gateway). Only commands listed in `allowCommands` run.
 *
 * Like tag writes (core/command-router.ts), a pile command runs at most once per id: a
 * retained or stale one is refused (core/command-guard.ts), and its id is claimed in the
 * durable ledger before it is sent, so a redelivery (broker reconnect, agent restart) is
 * answered with the stored result or refused as a duplicate instead of run again.
 */
import {
  CommandGate,
  type CommandLedger,
  type FreshnessPolicy,
  type RefusalReason,
} from '../../core/command-guard.js';
import { MAX_ID_LENGTH } from '../../core/command-result.js';
import type { CommandChannel, InboundMessage, Logger } from '../../core/ports.js';
import type { CmdMessage, Tlv } from '../codec/index.js';
import type { Effect, PileCommand, PileMachine } from '../state/machine.js';
import { resultBody } from './records.js';

export interface RouterHooks {
  machine(pile: string): PileMachine | undefined;
  /** Effects produced by a request (send CMD, or an immediate refusal). */
  apply(pile: string, effects: Effect[]): void;
  readonly log: Logger;
  now(): number;
}

/** Freshness, durable ids and size bound of pile commands (config `commands`). */
export interface PileCommandOptions {
  readonly ledger?: CommandLedger;
  readonly policy?: FreshnessPolicy;
  readonly maxPayloadBytes?: number;
}

const COMMANDS = new Set<string>(['start', 'stop', 'reset', 'begin-upgrade']);

export type ParsedRequest =
  | {
      readonly ok: true;
      readonly id: string;
      readonly command: PileCommand;
      readonly params?: Readonly<Record<string, unknown>>;
      readonly body: Readonly<Record<string, unknown>>;
    }
  | { readonly ok: false; readonly id: string; readonly command: string; readonly error: string };

/** Validates a command payload; never throws. */
function parseRequest(payload: Buffer, allowed: readonly string[]): ParsedRequest {
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    return { ok: false, id: '', command: '', error: 'bad-request: not JSON' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, id: '', command: '', error: 'bad-request: not an object' };
  const { id, command, params } = body as Record<string, unknown>;
  const idText = typeof id === 'string' || typeof id === 'number' ? String(id) : '';
  const name = typeof command === 'string' ? command : '';
  if (idText === '') return { ok: false, id: '', command: name, error: 'bad-request: id missing' };
  // The id is kept in the durable ledger for days: bounded like a tag write's, and not echoed.
  if (idText.length > MAX_ID_LENGTH)
    return { ok: false, id: '', command: name, error: `bad-request: id over ${MAX_ID_LENGTH} characters` };
  if (!COMMANDS.has(name))
    return { ok: false, id: idText, command: name, error: 'bad-request: unknown command' };
  if (!allowed.includes(name)) return { ok: false, id: idText, command: name, error: 'not-allowed' };
  if (params !== undefined && !validParams(params))
    return { ok: false, id: idText, command: name, error: 'bad-request: params' };
  return {
    ok: true,
    id: idText,
    command: name as PileCommand,
    ...(params === undefined ? {} : { params: params as Record<string, unknown> }),
    body: body as Record<string, unknown>,
  };
}

/** Keys are TLV tags (0..255, decimal or 0x..), values u32 numbers or strings. */
function validParams(params: unknown): boolean {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return false;
  return Object.entries(params).every(([k, v]) => {
    const tag = Number(k);
    const tagOk = Number.isInteger(tag) && tag >= 0 && tag <= 255;
    const valueOk =
      typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff);
    return tagOk && valueOk;
  });
}

/** The CMD frames of the `send` effects among `effects` (their params passed validParams). */
export function cmdFrames(effects: readonly Effect[]): CmdMessage[] {
  const out: CmdMessage[] = [];
  for (const e of effects) {
    if (e.kind !== 'send') continue;
    out.push({
      type: 'CMD',
      commandId: e.wireId,
      command: CODES[e.command],
      ...(e.params ? { params: paramsToTlvs(e.params) } : {}),
    });
  }
  return out;
}

const CODES = { start: 1, stop: 2, reset: 3, 'begin-upgrade': 4 } as const;

/** Command parameters from MQTT JSON: keys are tags (decimal or 0x..), numbers go as u32, strings as UTF-8. */
function paramsToTlvs(params: Readonly<Record<string, unknown>>): Tlv[] {
  const out: Tlv[] = [];
  for (const [k, v] of Object.entries(params)) {
    const tag = Number(k);
    if (!Number.isInteger(tag) || tag < 0 || tag > 255) continue;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(v);
      out.push({ tag, value: b });
    } else if (typeof v === 'string') out.push({ tag, value: Buffer.from(v, 'utf8') });
  }
  return out;
}

export class CommandRouter {
  private readonly unsubscribe = new Map<string, () => void>();
  private readonly gate: CommandGate;
  /** Ledger keys claimed and not yet answered: their first result is stored. */
  private readonly claimed = new Set<string>();
  /** Results of refusals: they never settle a claimed id (a retained copy of a running one). */
  private readonly refusalResults = new WeakSet<Effect>();

  constructor(
    private readonly channel: CommandChannel,
    private readonly allowed: readonly string[],
    private readonly hooks: RouterHooks,
    private readonly options: PileCommandOptions = {},
  ) {
    this.gate = new CommandGate(options.policy, options.ledger);
  }

  /** Commands refused before they ran, by reason. */
  refusals(): Readonly<Partial<Record<RefusalReason, number>>> {
    return this.gate.refused.snapshot();
  }

  /** Subscribes to `{pile}/cmd` (once per pile). */
  watch(pile: string): void {
    if (this.unsubscribe.has(pile)) return;
    this.unsubscribe.set(
      pile,
      this.channel.subscribe(`${pile}/cmd`, (message) => {
        try {
          this.onRequest(pile, message);
        } catch (error) {
          this.hooks.log.error({ pile, err: (error as Error).message }, 'cip22: command handling failed');
        }
      }),
    );
  }

  /** Publishes the command results among `effects`; a failed publish is logged (the event is stored). */
  publish(pile: string, effects: readonly Effect[]): void {
    for (const e of effects) {
      if (e.kind !== 'result') continue;
      const body = JSON.stringify(resultBody(e));
      const key = ledgerKey(pile, e.requestId);
      if (!this.refusalResults.has(e) && this.claimed.delete(key)) this.settle(pile, key, body);
      this.channel.publish(`${pile}/cmd/result`, body).catch((error: unknown) => {
        this.hooks.log.warn(
          { pile, id: e.requestId, err: (error as Error).message },
          'cip22: command result not published (stored as event)',
        );
      });
    }
  }

  close(): void {
    for (const off of this.unsubscribe.values()) off();
    this.unsubscribe.clear();
  }

  private onRequest(pile: string, message: InboundMessage): void {
    const limit = this.options.maxPayloadBytes;
    if (limit !== undefined && message.payload.length > limit) {
      this.gate.refused.add('oversized');
      this.hooks.log.warn({ pile, bytes: message.payload.length }, 'cip22: oversized command dropped');
      return;
    }
    const request = parseRequest(message.payload, this.allowed);
    const refuse = (error: string, command: string): void => {
      const result: Effect = {
        kind: 'result',
        requestId: request.id,
        command: command as PileCommand,
        ok: false,
        error,
      };
      this.refusalResults.add(result);
      this.hooks.apply(pile, [result]);
    };
    if (!request.ok) {
      this.gate.refused.add('malformed');
      refuse(request.error, request.command);
      return;
    }
    const key = ledgerKey(pile, request.id);
    const gate = this.gate.check(message, request.body, key, this.hooks.now());
    if ('refusal' in gate) {
      this.gate.refused.add(gate.refusal.reason);
      refuse(`${gate.refusal.reason}: ${gate.refusal.message}`, request.command);
      return;
    }
    const { claim } = gate;
    if (!claim.fresh) {
      this.gate.refused.add('duplicate');
      this.hooks.log.info({ pile, id: request.id }, 'cip22: duplicate command id, not run again');
      if (claim.result !== null) this.republish(pile, request.id, claim.result);
      else if (this.claimed.has(key))
        return; // still running: its result answers both
      else refuse('duplicate: received before a restart, outcome unknown', request.command);
      return;
    }
    this.claimed.add(key);
    const machine = this.hooks.machine(pile);
    if (!machine) {
      this.hooks.apply(pile, [
        { kind: 'result', requestId: request.id, command: request.command, ok: false, error: 'offline' },
      ]);
      return;
    }
    this.hooks.apply(pile, machine.request(request.id, request.command, request.params));
  }

  /** A store failure here must not break the frame being processed: it only costs later answers. */
  private settle(pile: string, key: string, body: string): void {
    this.gate.settle(key, body, (error) => {
      this.hooks.log.warn({ pile, err: (error as Error).message }, 'cip22: command result not kept');
    });
  }

  private republish(pile: string, id: string, result: string): void {
    this.channel.publish(`${pile}/cmd/result`, result).catch((error: unknown) => {
      this.hooks.log.warn(
        { pile, id, err: (error as Error).message },
        'cip22: stored command result not published again',
      );
    });
  }
}

function ledgerKey(pile: string, id: string): string {
  return `pile\u0000${pile}\u0000${id}`;
}
