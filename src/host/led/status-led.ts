/**
 * The status LED as the agent and OTA see it: conditions switched on and off
 * (`led.set('ota', true)`), the highest-priority one shown (see patterns.ts).
 * With no LED configured or present, the same API does nothing.
 */
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/ports.js';
import type { LedPort } from './led-port.js';
import { LED_PATTERNS, patternFor, type LedCondition } from './patterns.js';
import { LedSequencer } from './sequencer.js';

/** What other parts of the agent (OTA, forwarder wiring) may use. */
export interface StatusIndicator {
  set(condition: LedCondition, active: boolean): void;
}

export class StatusLed implements StatusIndicator {
  private readonly active = new Set<LedCondition>();
  private readonly sequencer: LedSequencer | undefined;
  private closed = false;

  /** `port` undefined: no LED, every call is a no-op apart from bookkeeping. */
  constructor(
    private readonly port: LedPort | undefined,
    deps: { clock: Clock; logger: Logger },
  ) {
    this.sequencer = port ? new LedSequencer(port, deps) : undefined;
  }

  set(condition: LedCondition, active: boolean): void {
    if (this.closed) return;
    if (active) this.active.add(condition);
    else this.active.delete(condition);
    this.sequencer?.play(patternFor(this.active));
  }

  has(condition: LedCondition): boolean {
    return this.active.has(condition);
  }

  /** Name of the pattern showing now. */
  showing(): string {
    return patternFor(this.active).name;
  }

  /** Resolves once the LED has no write in flight (tests, shutdown). */
  async idle(): Promise<void> {
    await this.sequencer?.idle();
  }

  /**
   * Stops the sequencer. When fatal is showing and the backend can, the kernel keeps
   * blinking it after we exit; otherwise the LED is switched off and released.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.sequencer?.halt();
    if (!this.port) return;
    const fatal = LED_PATTERNS.fatal.steps;
    try {
      if (this.active.has('fatal') && this.port.blinkInKernel)
        await this.port.blinkInKernel(fatal[0]!, fatal[1]!);
      else await this.port.close();
    } catch {
      // The LED must never fail a shutdown; its first failure was logged already.
    }
  }
}
