/**
 * Tags the PLC refused (item error, rejected request). A quarantined point is left out of
 * the packed reads, so it can never spoil a good neighbour's request again, and is
 * probed alone when its backoff expires; the first good probe releases it. Pure: time
 * comes from the injected `now`.
 */
import { Backoff, type BackoffPolicy } from '../../core/backoff.js';
import { badValue, type TagValue } from '../../core/types.js';

interface Entry {
  readonly backoff: Backoff;
  code: string;
  reason: string;
  plcCode: number | undefined;
  nextProbeAt: number;
}

export class Quarantine {
  private readonly entries = new Map<string, Entry>();
  /** Changes whenever the set changes (plans depend on it). */
  epoch = 0;
  probes = 0;
  released = 0;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: () => number,
    private readonly now: () => number,
  ) {}

  has(name: string): boolean {
    return this.entries.has(name);
  }

  isDue(name: string): boolean {
    const e = this.entries.get(name);
    return e !== undefined && this.now() >= e.nextProbeAt;
  }

  get size(): number {
    return this.entries.size;
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** What a quarantined point reports between probes: its last error, and when it is next tried. */
  heldValue(name: string): TagValue {
    const e = this.entries.get(name)!;
    const inMs = Math.max(0, Math.round(e.nextProbeAt - this.now()));
    return badValue(name, e.code, `${e.reason} (quarantined; next probe in ${inMs} ms)`);
  }

  plcCode(name: string): number | undefined {
    return this.entries.get(name)?.plcCode;
  }

  /** Records a refusal: enters quarantine, or pushes the next probe further out. */
  fail(name: string, code: string, reason: string, plcCode: number | undefined): void {
    let e = this.entries.get(name);
    if (!e) {
      e = { backoff: new Backoff(this.policy, this.random), code, reason, plcCode, nextProbeAt: 0 };
      this.entries.set(name, e);
      this.epoch++;
    }
    e.code = code;
    e.reason = reason;
    e.plcCode = plcCode;
    e.nextProbeAt = this.now() + e.backoff.next();
  }

  noteProbe(): void {
    this.probes++;
  }

  release(name: string): void {
    if (this.entries.delete(name)) {
      this.released++;
      this.epoch++;
    }
  }
}
