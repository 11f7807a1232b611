/**
 * The WAL's fsync off the event loop. The outbox connection commits `synchronous=NORMAL`
 * (SQLite writes the WAL frames, no fsync) and this class fdatasyncs the -wal file on
 * libuv's thread pool; a commit counts as durable once an fdatasync that started after it
 * returned. This is the durability of synchronous=FULL (SQLite's FULL is that same
 * fdatasync of the WAL after the commit's frames), but the event loop no longer blocks in
 * it: what commits while one is in flight shares the next (group commit). In WAL mode
 * NORMAL still syncs the WAL before a checkpoint and its header when it restarts, so a
 * checkpoint never copies frames that are not on disk.
 *
 * Until a commit is durable its rows are not visible (durableRowid bounds reads and
 * lastRowid), so nothing is published that a power cut could take back and whose rowid
 * and seq a later record would reuse. An fdatasync that fails is not retried (after a
 * failed fsync Linux may report the next one clean with the data gone): the commits it
 * covered are reported failed and the store falls back to in-loop synchronous=FULL.
 */
import { closeSync, fdatasync, openSync } from 'node:fs';
import { EdgeError } from '../core/errors.js';
import type { Logger } from '../core/ports.js';

/**
 * The fsync port: resolves once the file's written data is on disk. A port that returns
 * nothing synced before it returned (tests that check the group commit's timing).
 */
export type Fdatasync = (fd: number) => Promise<void> | void;

const threadPoolFdatasync: Fdatasync = (fd) =>
  new Promise((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve())));

interface Waiting {
  /** Last rowid of the commit. */
  readonly rowid: number;
  readonly done: (error: EdgeError | null) => void;
}

export class WalSync {
  private fd: number | null = null;
  private inFlight = false;
  private failed = false;
  /** Last rowid committed (NORMAL) and not yet covered by a started fdatasync. */
  private written: number;
  private durable: number;
  /** Commits waiting for the fdatasync in flight (`covered`) and for the next one (`next`). */
  private covered: Waiting[] = [];
  private next: Waiting[] = [];
  private readonly idle: (() => void)[] = [];
  /** Called when an fdatasync returned and nothing waits: the group commit commits what gathered. */
  onSynced: () => void = () => {};

  constructor(
    private readonly walPath: string,
    lastRowid: number,
    private readonly log: Logger,
    private readonly sync: Fdatasync = threadPoolFdatasync,
  ) {
    this.written = lastRowid;
    this.durable = lastRowid;
  }

  /** False when the -wal file cannot be opened or an fdatasync failed: commit FULL in the loop. */
  get usable(): boolean {
    if (this.failed) return false;
    if (this.fd !== null) return true;
    try {
      // The -wal file lives as long as the connection: one descriptor for the store's life.
      this.fd = openSync(this.walPath, 'r');
      return true;
    } catch (e) {
      this.fail(`cannot open ${this.walPath}: ${(e as Error).message}`);
      return false;
    }
  }

  /** Commits FULL in the loop from now on (SQLite's own fsync). */
  disable(): void {
    this.failed = true;
  }

  /** Rows up to here are on disk (and may be read and published). */
  get durableRowid(): number {
    return this.durable;
  }

  /** True while commits wait for an fdatasync. */
  get busy(): boolean {
    return this.inFlight || this.next.length > 0;
  }

  /**
   * A transaction up to `rowid` committed NORMAL. `needsSync`: it must reach the disk
   * before `done` (FULL). Otherwise (a NORMAL batch) it is done at once unless commits
   * wait, whose order it keeps.
   */
  committed(rowid: number, needsSync: boolean, done: (error: EdgeError | null) => void): void {
    if (!needsSync && !this.busy) {
      this.written = rowid;
      this.durable = rowid;
      return done(null);
    }
    this.written = rowid;
    this.next.push({ rowid, done });
    if (!this.inFlight) this.start();
  }

  /** A commit made durable in the loop (synchronous=FULL): its rows are readable at once. */
  advance(rowid: number): void {
    this.written = Math.max(this.written, rowid);
    this.durable = Math.max(this.durable, rowid);
  }

  /** Resolves once nothing waits for an fdatasync. */
  drained(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Stops using the descriptor; commits still waiting are settled by their fdatasync. */
  close(): void {
    if (this.busy) return void this.idle.push(() => this.closeFd());
    this.closeFd();
  }

  private start(): void {
    const fd = this.fd;
    if (fd === null || this.failed) return this.settle(this.next.splice(0), this.failure());
    this.covered = this.next;
    this.next = [];
    const upTo = this.written;
    this.inFlight = true;
    let pending: Promise<void> | void;
    try {
      pending = this.sync(fd);
    } catch (e) {
      return this.synced(upTo, e as Error);
    }
    if (pending === undefined) return this.synced(upTo, null);
    pending.then(
      () => this.synced(upTo, null),
      (e: unknown) => this.synced(upTo, e as Error),
    );
  }

  private synced(upTo: number, error: Error | null): void {
    this.inFlight = false;
    const covered = this.covered;
    this.covered = [];
    if (error) {
      this.fail(`fdatasync of ${this.walPath} failed: ${error.message}`);
      this.settle(covered.concat(this.next.splice(0)), this.failure(error));
    } else {
      this.durable = Math.max(this.durable, upTo);
      this.settle(covered, null);
      if (this.next.length > 0) this.start();
      else this.onSynced();
    }
    if (!this.busy) for (const resolve of this.idle.splice(0)) resolve();
  }

  private settle(commits: readonly Waiting[], error: EdgeError | null): void {
    for (const c of commits) {
      if (error === null) this.durable = Math.max(this.durable, c.rowid);
      c.done(error);
    }
  }

  private failure(cause?: Error): EdgeError {
    return new EdgeError(
      'EDGE_ERR_STORE_WRITE',
      'the outbox WAL could not be synced: commits it covered may not survive a power cut',
      { cause, context: { path: this.walPath } },
    );
  }

  private fail(message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.log.error(
      { code: 'EDGE_ERR_STORE_WRITE', err: message },
      'outbox WAL sync off the event loop failed; committing synchronous=FULL in the loop from now on',
    );
  }

  private closeFd(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      // already gone; nothing holds it
    }
    this.fd = null;
  }
}
