/**
 * What every command (tag write, pile command) passes before it may run, shared by the
 * device and CIP-22 routers:
 *
 * - not retained: a retained command is redelivered by the broker at every subscribe,
 *   i.e. at every agent start and broker reconnect, and would run again each time;
 * - fresh: it carries `ts` (ms since the epoch, when it was issued, optional `ttlMs`) or
 *   an MQTT 5 message expiry, and is not older than `maxAgeMs`;
 * - its id not seen before: ids are kept durably (SQLite, see store/command-ledger.ts)
 *   for `seenTtlMs`, longer than any command stays fresh, so a stale replay is refused
 *   for its age once its id is forgotten.
 */
import type { EdgeErrorCode } from './errors.js';
import type { InboundMessage } from './ports.js';

/** Freshness settings (config `commands`). */
export interface FreshnessPolicy {
  /** A command without `ts` and without an MQTT 5 message expiry is refused. */
  readonly requireExpiry: boolean;
  /** Oldest accepted command age (`ttlMs` may shorten it, never extend it). */
  readonly maxAgeMs: number;
  /** Tolerated clock difference between the issuer and this box. */
  readonly clockSkewMs: number;
}

export const DEFAULT_FRESHNESS: FreshnessPolicy = {
  requireExpiry: true,
  maxAgeMs: 120_000,
  clockSkewMs: 30_000,
};

/** Why a command was refused before it ran; also the label of the refusal counter. */
export type RefusalReason =
  'retained' | 'no-expiry' | 'expired' | 'future' | 'duplicate' | 'oversized' | 'malformed' | 'ledger-full';

export interface Refusal {
  readonly reason: RefusalReason;
  readonly code: EdgeErrorCode;
  readonly message: string;
}

const refusal = (reason: RefusalReason, code: EdgeErrorCode, message: string): Refusal => ({
  reason,
  code,
  message,
});

/**
 * The refusal for a message that must not run, or undefined. `body` is the decoded JSON
 * object (its `ts`/`ttlMs` are read here; their types are checked too).
 */
export function admit(
  message: InboundMessage,
  body: Readonly<Record<string, unknown>>,
  policy: FreshnessPolicy,
  now: number,
): Refusal | undefined {
  if (message.retained === true)
    return refusal(
      'retained',
      'EDGE_ERR_CMD_RETAINED',
      'retained commands are refused: the broker would deliver them again at every (re)connect',
    );
  const { ts, ttlMs } = body;
  if (ts !== undefined && (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts <= 0))
    return refusal('malformed', 'EDGE_ERR_CMD_INVALID', 'ts: expected ms since the Unix epoch');
  if (ttlMs !== undefined && (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs <= 0))
    return refusal('malformed', 'EDGE_ERR_CMD_INVALID', 'ttlMs: expected a positive integer');
  const expirySec = message.expiryIntervalSec;
  if (expirySec !== undefined && expirySec * 1000 > policy.maxAgeMs)
    return refusal(
      'expired',
      'EDGE_ERR_CMD_EXPIRED',
      `MQTT message expiry ${expirySec} s exceeds commands.maxAgeMs (${policy.maxAgeMs} ms)`,
    );
  if (typeof ts === 'number') {
    if (ts > now + policy.clockSkewMs)
      return refusal(
        'future',
        'EDGE_ERR_CMD_EXPIRED',
        `ts is ${ts - now} ms in the future (more than commands.clockSkewMs): check the clocks`,
      );
    const validity = Math.min(typeof ttlMs === 'number' ? ttlMs : policy.maxAgeMs, policy.maxAgeMs);
    if (now - ts > validity + policy.clockSkewMs)
      return refusal(
        'expired',
        'EDGE_ERR_CMD_EXPIRED',
        `issued ${now - ts} ms ago, valid for ${validity} ms (+${policy.clockSkewMs} ms clock skew)`,
      );
    return undefined;
  }
  if (expirySec === undefined && policy.requireExpiry)
    return refusal(
      'no-expiry',
      'EDGE_ERR_CMD_EXPIRED',
      'no ts and no MQTT 5 message expiry: commands must say until when they are valid',
    );
  return undefined;
}

/** What the ledger knew about an id. */
export type LedgerClaim =
  { readonly fresh: true } | { readonly fresh: false; readonly ts: number; readonly result: string | null };

/**
 * Command ids seen, kept across restarts. `claim` records the id before the command runs
 * (a crash mid-write must not let a redelivery write again: at most once), `settle` keeps
 * the result to answer later duplicates with.
 */
export interface CommandLedger {
  /**
   * A known id's record, or a new claim; `full` when the bound is reached and every kept id
   * is still within its validity (forgetting one could let its redelivery run again).
   */
  claim(key: string, now: number): LedgerClaim | 'full';
  settle(key: string, result: string): void;
}

/** The ledger in RAM: for tests and for agents without a store. */
export class MemoryCommandLedger implements CommandLedger {
  private readonly seen = new Map<string, { ts: number; result: string | null }>();

  constructor(
    private readonly maxKeys = 100_000,
    private readonly protectMs = DEFAULT_FRESHNESS.maxAgeMs + 2 * DEFAULT_FRESHNESS.clockSkewMs,
  ) {}

  claim(key: string, now: number): LedgerClaim | 'full' {
    const entry = this.seen.get(key);
    if (entry) return { fresh: false, ts: entry.ts, result: entry.result };
    // Insertion order is claim order: the oldest go first, and only once past their validity.
    for (const [k, old] of this.seen) {
      if (this.seen.size < this.maxKeys || old.ts >= now - this.protectMs) break;
      this.seen.delete(k);
    }
    if (this.seen.size >= this.maxKeys) return 'full';
    this.seen.set(key, { ts: now, result: null });
    return { fresh: true };
  }

  settle(key: string, result: string): void {
    const entry = this.seen.get(key);
    if (entry) entry.result = result;
  }
}

/** Counts refusals by reason (for /metrics `edge_commands_refused_total{reason}`). */
export class RefusalCounter {
  private readonly counts: Partial<Record<RefusalReason, number>> = {};

  add(reason: RefusalReason): void {
    this.counts[reason] = (this.counts[reason] ?? 0) + 1;
  }

  snapshot(): Readonly<Partial<Record<RefusalReason, number>>> {
    return { ...this.counts };
  }
}

/**
 * The guard one router keeps: its freshness policy, its ledger and its refusal counts.
 * The device and the CIP-22 routers both admit, then claim, then settle through it.
 */
export class CommandGate {
  readonly refused = new RefusalCounter();

  constructor(
    private readonly policy: FreshnessPolicy = DEFAULT_FRESHNESS,
    private readonly ledger: CommandLedger = new MemoryCommandLedger(),
  ) {}

  /**
   * The refusal of a message that must not run (not counted: the caller counts it as it
   * answers), else the ledger's claim of `key`, made before anything runs.
   */
  check(
    message: InboundMessage,
    body: Readonly<Record<string, unknown>>,
    key: string,
    now: number,
  ): { readonly refusal: Refusal } | { readonly claim: LedgerClaim } {
    const refusal = admit(message, body, this.policy, now);
    if (refusal) return { refusal };
    const claim = this.ledger.claim(key, now);
    if (claim !== 'full') return { claim };
    return {
      refusal: {
        reason: 'ledger-full',
        code: 'EDGE_ERR_CMD_BUSY',
        message: `command id ledger full of ids still valid (commands.maxSeenIds): refused so that none can run twice`,
      },
    };
  }

  /** Keeps the result for later duplicates; a store failure only costs those answers (the id stays claimed). */
  settle(key: string, result: string, onError: (error: unknown) => void): void {
    try {
      this.ledger.settle(key, result);
    } catch (error) {
      onError(error);
    }
  }
}
