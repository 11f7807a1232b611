/**
 * Plays one LED pattern on a port with the injected clock. Writes never block the
 * caller: at most one write is in flight and only the latest wanted state is written
 * after it. A failing LED is reported once, then written to silently (it may come back).
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import { EdgeError } from '../../core/errors.js';
import type { Logger } from '../../core/ports.js';
import type { LedPort } from './led-port.js';
import { LED_OFF, type LedPattern } from './patterns.js';

export class LedSequencer {
  private pattern: LedPattern = LED_OFF;
  private step = 0;
  private timer: TimerHandle | undefined;
  private wanted = false;
  private written: boolean | undefined;
  private writing: Promise<void> | undefined;
  private warned = false;
  private failures = 0;

  constructor(
    private readonly port: LedPort,
    private readonly deps: { clock: Clock; logger: Logger },
  ) {}

  get current(): LedPattern {
    return this.pattern;
  }

  get writeFailures(): number {
    return this.failures;
  }

  /** Starts `pattern` from its first step; the same pattern again keeps its rhythm. */
  play(pattern: LedPattern): void {
    if (pattern === this.pattern) return;
    this.pattern = pattern;
    this.timer?.cancel();
    this.timer = undefined;
    this.step = 0;
    this.apply();
  }

  /** Stops the rhythm; resolves once the last write ended. */
  async halt(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    this.pattern = LED_OFF;
    await this.idle();
  }

  /** Resolves when no write is in flight. */
  async idle(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private apply(): void {
    const steps = this.pattern.steps;
    this.write(steps.length > 0 && this.step % 2 === 0);
    if (steps.length <= 1) return;
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      this.step = (this.step + 1) % steps.length;
      this.apply();
    }, steps[this.step]!);
  }

  private write(on: boolean): void {
    this.wanted = on;
    // flush() always awaits before it clears `writing`, so start it only with work to do.
    if (!this.writing && this.written !== on) this.writing = this.flush();
  }

  private async flush(): Promise<void> {
    while (this.written !== this.wanted) {
      const value = this.wanted;
      try {
        await this.port.set(value);
      } catch (err) {
        this.failures++;
        if (!this.warned) {
          this.warned = true;
          const error = new EdgeError(
            'EDGE_ERR_LED_WRITE',
            `status LED write failed: ${(err as Error).message}`,
            { cause: err },
          );
          this.deps.logger.warn(
            { code: error.code, err: error.message },
            'status LED write failed; further failures are not logged',
          );
        }
      }
      this.written = value;
    }
    this.writing = undefined;
  }
}
