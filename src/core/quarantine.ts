/**
 * Points a device refused (an S7 item error, a Modbus exception for an unmapped register).
 * A quarantined point is left out of the packed reads, so it can never spoil a good
 * neighbour's request again, and is probed when its backoff expires; the first good probe
 * releases it. Keys are opaque (a tag name, or a register range). Pure: time comes from
 * the injected `now`.
 */
import { Backoff, type BackoffPolicy } from './backoff.js';
import { badValue, type TagValue } from './types.js';

interface Entry {
  readonly backoff: Backoff;
  code: string;
  reason: string;
  peerCode: number | undefined;
  nextProbeAt: number;
  since: number;
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
    const e = this.entries.get(name);
    if (!e) throw new Error(`heldValue: ${name} is not quarantined`);
    const inMs = Math.max(0, Math.round(e.nextProbeAt - this.now()));
    return badValue(name, e.code, `${e.reason} (quarantined; next probe in ${inMs} ms)`);
  }

  /** The device's own code for the refusal (S7 item error, Modbus exception code). */
  peerCode(name: string): number | undefined {
    return this.entries.get(name)?.peerCode;
  }

  /**
   * Records a refusal: enters quarantine, or pushes the next probe further out.
   * Returns true when the point was not quarantined before (the caller logs that).
   */
  fail(name: string, code: string, reason: string, peerCode: number | undefined): boolean {
    let e = this.entries.get(name);
    const entered = e === undefined;
    if (!e) {
      e = {
        backoff: new Backoff(this.policy, this.random),
        code,
        reason,
        peerCode,
        nextProbeAt: 0,
        since: this.now(),
      };
      this.entries.set(name, e);
      this.epoch++;
    }
    e.code = code;
    e.reason = reason;
    e.peerCode = peerCode;
    e.nextProbeAt = this.now() + e.backoff.next();
    return entered;
  }

  noteProbe(count = 1): void {
    this.probes += count;
  }

  /**
   * Releases a point after a good read. Returns how long it was quarantined and how many
   * probes failed, or undefined when it was not quarantined (nothing to log).
   */
  release(name: string): { readonly quarantinedMs: number; readonly failedProbes: number } | undefined {
    const e = this.entries.get(name);
    if (!e) return undefined;
    this.entries.delete(name);
    this.released++;
    this.epoch++;
    return { quarantinedMs: Math.round(this.now() - e.since), failedProbes: e.backoff.attempts - 1 };
  }
}
