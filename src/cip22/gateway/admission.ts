/**
 * Admission of CIP-22 connections at TCP accept, before any TLS work: caps on
 * pre-authentication connections (in total and per source address) and one deadline per
 * connection from accept to AUTH_OK that covers the TLS handshake too. Before this, a TCP
 * connection that never sent a ClientHello was never seen by the gateway and stayed open
 * for ever, outside maxSessions, the rate limit and handshakeTimeoutMs (issue 12 item 3).
 */
import type { Clock, TimerHandle } from '../../core/clock.js';

export interface AdmissionLimits {
  readonly maxPreAuth: number;
  readonly maxPreAuthPerSource: number;
  readonly handshakeTimeoutMs: number;
}

export type AdmissionRefusal = 'preauth-full' | 'preauth-per-source';

/** One admitted connection until it authenticates or closes. */
export class Ticket {
  private timer: TimerHandle | undefined;
  private done = false;

  constructor(
    readonly source: string,
    private readonly admission: Admission,
    timer: (ticket: Ticket) => TimerHandle,
  ) {
    this.timer = timer(this);
  }

  /** The pile passed AUTH: it no longer counts as pre-authentication; the deadline is off. */
  authenticated(): void {
    this.release();
  }

  /** The connection closed (or authenticated). Idempotent. */
  release(): void {
    if (this.done) return;
    this.done = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.admission.released(this);
  }
}

export class Admission {
  private total = 0;
  private readonly perSource = new Map<string, number>();
  private readonly rate = new Map<string, { windowStart: number; count: number }>();

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly clock: Clock,
  ) {}

  /**
   * Admits a new connection from `source` or names the cap it hits. `onTimeout` runs
   * when the connection has not authenticated handshakeTimeoutMs after accept; the
   * ticket is released before it runs.
   */
  admit(source: string, onTimeout: () => void): Ticket | AdmissionRefusal {
    if (this.total >= this.limits.maxPreAuth) return 'preauth-full';
    const n = this.perSource.get(source) ?? 0;
    if (n >= this.limits.maxPreAuthPerSource) return 'preauth-per-source';
    this.total++;
    this.perSource.set(source, n + 1);
    return new Ticket(source, this, (ticket) =>
      this.clock.setTimeout(() => {
        ticket.release();
        onTimeout();
      }, this.limits.handshakeTimeoutMs),
    );
  }

  released(ticket: Ticket): void {
    this.total--;
    const n = (this.perSource.get(ticket.source) ?? 1) - 1;
    if (n <= 0) this.perSource.delete(ticket.source);
    else this.perSource.set(ticket.source, n);
  }

  /** Counts a handshake of `source` in its fixed 1-minute window; true when over `perMinute`. */
  overRate(source: string, perMinute: number): boolean {
    const now = this.clock.now();
    let entry = this.rate.get(source);
    if (!entry || now - entry.windowStart >= 60_000) {
      if (this.rate.size > 10_000) this.rate.clear();
      entry = { windowStart: now, count: 0 };
      this.rate.set(source, entry);
    }
    entry.count++;
    return entry.count > perMinute;
  }

  /** Connections admitted and not yet authenticated or closed. */
  get pending(): number {
    return this.total;
  }
}
