/**
 * Per-device circuit breaker. Closed: requests flow. After `failureThreshold`
 * consecutive failures it opens for `cooldownMs` (no traffic: a dead slave costs the
 * shared bus nothing). Then half-open: one probe; success closes, failure re-opens.
 */
export interface BreakerPolicy {
  readonly failureThreshold: number;
  readonly cooldownMs: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private opened = false;

  constructor(
    private readonly policy: BreakerPolicy,
    private readonly now: () => number,
  ) {}

  get state(): BreakerState {
    if (!this.opened) return 'closed';
    return this.now() - this.openedAt >= this.policy.cooldownMs ? 'half-open' : 'open';
  }

  /** True when a request may go out now (closed, or the half-open probe). */
  allows(): boolean {
    return this.state !== 'open';
  }

  recordSuccess(): void {
    this.failures = 0;
    this.opened = false;
  }

  /** Forgets the failures (the link under the device came back: they said nothing about it). */
  reset(): void {
    this.failures = 0;
    this.opened = false;
  }

  /** Returns true when this failure opened (or re-opened) the breaker. */
  recordFailure(): boolean {
    this.failures++;
    const wasHalfOpen = this.state === 'half-open';
    if (wasHalfOpen || (!this.opened && this.failures >= this.policy.failureThreshold)) {
      this.opened = true;
      this.openedAt = this.now();
      return true;
    }
    return false;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }
}
