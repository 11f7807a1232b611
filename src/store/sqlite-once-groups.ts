/**
 * The appendOnce groups waiting in the group commit's pending batch (sqlite-group-commit.ts):
 * which records belong to a group, the key each group carries (so a second appendOnce of a
 * pending key is seen), where a commit chunk may end without cutting a group in two, and
 * what a committed chunk settles.
 */
import type { OnceResult } from '../core/ports.js';
import type { NewRecord } from '../core/types.js';
import { highestTail } from './sqlite-dedup.js';
import type { OnceMark } from './sqlite-queue.js';

/** A pending appendOnce: its records travel together and commit in one transaction. */
export interface OnceGroup extends OnceMark {
  readonly members: readonly NewRecord[];
  resolve(result: OnceResult): void;
}

export class PendingOnceGroups {
  /** Pending groups by their first record. */
  private readonly byFirst = new Map<NewRecord, OnceGroup>();
  private readonly members = new Set<NewRecord>();
  /** Keys of the pending groups, with counts. */
  private readonly keys = new Map<string, number>();

  add(group: OnceGroup): void {
    const first = group.members.at(0);
    if (first === undefined) return;
    this.byFirst.set(first, group);
    this.keys.set(group.key, (this.keys.get(group.key) ?? 0) + 1);
    for (const m of group.members) this.members.add(m);
  }

  hasKey(key: string): boolean {
    return this.keys.has(key);
  }

  /** The largest integer n such that `prefix + n` is a pending key, or `high` when larger. */
  highestKey(prefix: string, high: number | null): number | null {
    return highestTail(this.keys.keys(), prefix, high);
  }

  /** Group members are never shed: a group commits whole or not at all. */
  isMember(record: NewRecord): boolean {
    return this.members.has(record);
  }

  /** The groups by first record for the batch writer, or null when none waits. */
  marks(): ReadonlyMap<NewRecord, OnceGroup> | null {
    return this.byFirst.size > 0 ? this.byFirst : null;
  }

  /** `n` (a chunk of `all` from its start) moved past the rest of a group it would cut in two. */
  chunkEnd(all: readonly NewRecord[], n: number): number {
    if (this.members.size === 0 || n === all.length) return n;
    let end = n;
    while (end < all.length && this.isMember(all[end]!) && !this.byFirst.has(all[end]!)) end++;
    return end;
  }

  /** Forgets the groups among the first `n` committed records; returns those the store already had. */
  settle(all: readonly NewRecord[], n: number, duplicates: readonly NewRecord[]): OnceGroup[] {
    if (this.members.size === 0) return [];
    const dup = new Set(duplicates);
    const out: OnceGroup[] = [];
    for (let i = 0; i < n; i++) {
      const r = all[i]!;
      if (!this.members.delete(r)) continue;
      const group = this.byFirst.get(r);
      if (group === undefined) continue;
      this.byFirst.delete(r);
      const left = (this.keys.get(group.key) ?? 1) - 1;
      if (left > 0) this.keys.set(group.key, left);
      else this.keys.delete(group.key);
      if (dup.has(r)) out.push(group);
    }
    return out;
  }

  clear(): void {
    this.byFirst.clear();
    this.members.clear();
    this.keys.clear();
  }
}
