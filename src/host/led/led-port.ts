/** The one thing an LED backend must do: switch on or off. Backends: sysfs-led, onoff GPIO, memory. */
import type { Clock } from '../../core/clock.js';

export interface LedPort {
  set(on: boolean): Promise<void>;
  /** Leaves the LED off and releases it. Idempotent. */
  close(): Promise<void>;
  /**
   * Optional: hands a steady blink to the kernel (LED class `timer` trigger), so it keeps
   * going after the process has exited. Used for the fatal pattern.
   */
  blinkInKernel?(onMs: number, offMs: number): Promise<void>;
}

/** Records every switch with the clock's time; for tests. */
export class MemoryLed implements LedPort {
  readonly changes: Array<{ at: number; on: boolean }> = [];
  closed = false;
  kernelBlink: { onMs: number; offMs: number } | undefined;
  /** Set to make every write fail. */
  failing = false;

  constructor(private readonly clock: Clock) {}

  async set(on: boolean): Promise<void> {
    if (this.failing) throw new Error('LED write failed (fake)');
    this.changes.push({ at: this.clock.now(), on });
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  async blinkInKernel(onMs: number, offMs: number): Promise<void> {
    this.kernelBlink = { onMs, offMs };
  }

  get on(): boolean | undefined {
    return this.changes.at(-1)?.on;
  }
}
