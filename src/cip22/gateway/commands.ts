/**
 * Commands from MQTT for piles: `{pile}/cmd` carries `{id, command, params?}`; the result
 * goes to `{pile}/cmd/result` as `{id, command, ok, result?, error?}` (and is stored as a
 * cip22-cmd-result event by the gateway). Only commands listed in `allowCommands` run.
 */
import type { CommandChannel, Logger } from '../../core/ports.js';
import type { Effect, PileCommand, PileMachine } from '../state/machine.js';
import { resultBody } from './records.js';

export interface RouterHooks {
  machine(pile: string): PileMachine | undefined;
  /** Effects produced by a request (send CMD, or an immediate refusal). */
  apply(pile: string, effects: Effect[]): void;
  readonly log: Logger;
}

const COMMANDS = new Set<string>(['start', 'stop', 'reset', 'begin-upgrade']);

export type ParsedRequest =
  | {
      readonly ok: true;
      readonly id: string;
      readonly command: PileCommand;
      readonly params?: Readonly<Record<string, unknown>>;
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
  if (typeof body !== 'object' || body === null)
    return { ok: false, id: '', command: '', error: 'bad-request: not an object' };
  const { id, command, params } = body as Record<string, unknown>;
  const idText = typeof id === 'string' || typeof id === 'number' ? String(id) : '';
  const name = typeof command === 'string' ? command : '';
  if (idText === '') return { ok: false, id: '', command: name, error: 'bad-request: id missing' };
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

export class CommandRouter {
  private readonly unsubscribe = new Map<string, () => void>();

  constructor(
    private readonly channel: CommandChannel,
    private readonly allowed: readonly string[],
    private readonly hooks: RouterHooks,
  ) {}

  /** Subscribes to `{pile}/cmd` (once per pile). */
  watch(pile: string): void {
    if (this.unsubscribe.has(pile)) return;
    this.unsubscribe.set(
      pile,
      this.channel.subscribe(`${pile}/cmd`, (message) => {
        try {
          this.onRequest(pile, message.payload);
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
      this.channel.publish(`${pile}/cmd/result`, JSON.stringify(resultBody(e))).catch((error: unknown) => {
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

  private onRequest(pile: string, payload: Buffer): void {
    const request = parseRequest(payload, this.allowed);
    if (!request.ok) {
      this.hooks.apply(pile, [
        {
          kind: 'result',
          requestId: request.id,
          command: request.command as PileCommand,
          ok: false,
          error: request.error,
        },
      ]);
      return;
    }
    const machine = this.hooks.machine(pile);
    if (!machine) {
      this.hooks.apply(pile, [
        { kind: 'result', requestId: request.id, command: request.command, ok: false, error: 'offline' },
      ]);
      return;
    }
    this.hooks.apply(pile, machine.request(request.id, request.command, request.params));
  }
}
