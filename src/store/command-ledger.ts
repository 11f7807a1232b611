/**
 * Command ids seen, in the outbox database (table `command_ids`, migration 3), so that a
 * command redelivered after a restart (QoS 1 redelivery, a resend by the issuer, a broker
 * reconnect) is answered instead of run again. A claim is its own transaction and
 * committed (synchronous=FULL) before the command runs: at most once, even across a power
 * cut in the middle of a write. Retention by age (`seenTtlMs`) and count (`maxKeys`); an
 * id younger than `protectMs` (the longest a command stays valid) is never dropped to make
 * room, because its redelivery would then run again: a ledger full of such ids refuses new
 * commands instead (`full`).
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { CommandLedger, LedgerClaim } from '../core/command-guard.js';

type Db = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement;

export interface CommandLedgerLimits {
  readonly seenTtlMs: number;
  readonly maxKeys: number;
  /** Ids younger than this are never pruned for room (default: never pruned for room). */
  readonly protectMs?: number;
}

/** Pruning runs at most this often (and whenever the count bound is passed). */
const PRUNE_INTERVAL_MS = 60_000;

export class SqliteCommandLedger implements CommandLedger {
  private readonly get: Statement;
  private readonly insert: Statement;
  private readonly update: Statement;
  private readonly pruneAge: Statement;
  private readonly pruneOldest: Statement;
  private keys: number;
  private lastPrune = Number.NEGATIVE_INFINITY;

  constructor(
    db: Db,
    private readonly limits: CommandLedgerLimits,
    /**
     * Puts the connection in synchronous=FULL before a write: the outbox shares it and
     * leaves it in NORMAL after a `synchronous.telemetry: normal` commit, where a claim
     * would not survive a power cut.
     */
    private readonly fullSync: () => void = () => {},
  ) {
    this.get = db.prepare('SELECT ts, result FROM command_ids WHERE key = ?');
    this.insert = db.prepare('INSERT INTO command_ids (key, ts, result) VALUES (?, ?, NULL)');
    this.update = db.prepare('UPDATE command_ids SET result = ? WHERE key = ?');
    this.pruneAge = db.prepare('DELETE FROM command_ids WHERE ts < ?');
    this.pruneOldest = db.prepare(
      'DELETE FROM command_ids WHERE key IN (SELECT key FROM command_ids WHERE ts < ? ORDER BY ts LIMIT ?)',
    );
    this.keys = (db.prepare('SELECT count(*) AS n FROM command_ids').get() as { n: number }).n;
  }

  claim(key: string, now: number): LedgerClaim | 'full' {
    this.fullSync();
    this.prune(now);
    const row = this.get.get(key) as { ts: number; result: string | null } | undefined;
    // An id older than the retention is forgotten even before the pruning pass removes it.
    if (row && row.ts >= now - this.limits.seenTtlMs) return { fresh: false, ts: row.ts, result: row.result };
    if (row) this.keys -= this.pruneAge.run(now - this.limits.seenTtlMs).changes;
    if (this.keys >= this.limits.maxKeys) return 'full';
    this.insert.run(key, now);
    this.keys++;
    return { fresh: true };
  }

  settle(key: string, result: string): void {
    this.fullSync();
    this.update.run(result, key);
  }

  /** Stored ids (within or past retention, until pruned). */
  size(): number {
    return this.keys;
  }

  private prune(now: number): void {
    if (this.keys < this.limits.maxKeys && now - this.lastPrune < PRUNE_INTERVAL_MS) return;
    this.lastPrune = now;
    this.keys -= this.pruneAge.run(now - this.limits.seenTtlMs).changes;
    if (this.keys >= this.limits.maxKeys) {
      const protectedFrom = now - (this.limits.protectMs ?? Number.POSITIVE_INFINITY);
      this.keys -= this.pruneOldest.run(protectedFrom, this.keys - this.limits.maxKeys + 1).changes;
    }
  }
}
