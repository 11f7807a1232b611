/**
 * GPIO backend through `onoff` (optional dependency, sysfs GPIO, unmaintained since 2021
 * and unaware of the gpiochip base: we pass it base + line ourselves). Loaded with a
 * dynamic import so a bundle without it (or without its native epoll build) still runs.
 */
import { EdgeError } from '../../core/errors.js';
import { listGpioChips, resolveGpioNumber, type GpioChip } from './gpio-base.js';
import type { LedPort } from './led-port.js';

/** The part of onoff's Gpio we use. */
export interface GpioPin {
  write(value: 0 | 1): Promise<void>;
  unexport(): void;
}

export interface GpioClass {
  new (gpio: number, direction: 'out', edge?: 'none', options?: { activeLow?: boolean }): GpioPin;
  readonly accessible: boolean;
}

/** onoff's Gpio, or undefined when the package (or its native part) is not there. */
export async function loadOnoff(): Promise<GpioClass | undefined> {
  try {
    const mod = (await import('onoff')) as unknown as { Gpio?: GpioClass; default?: { Gpio?: GpioClass } };
    return mod.Gpio ?? mod.default?.Gpio;
  } catch {
    return undefined;
  }
}

export interface OnoffLedOptions {
  readonly sysfsRoot: string;
  readonly line: number;
  readonly chipLabels: readonly string[];
  readonly activeLow: boolean;
}

export class OnoffLed implements LedPort {
  /** Rejects EDGE_ERR_LED_UNAVAILABLE (no onoff, no GPIO) or EDGE_ERR_LED_GPIO_BASE. */
  static async open(options: OnoffLedOptions, Gpio: GpioClass | undefined): Promise<OnoffLed> {
    if (!Gpio)
      throw new EdgeError(
        'EDGE_ERR_LED_UNAVAILABLE',
        'onoff is not installed (optional dependency) or its native part did not load',
      );
    if (!Gpio.accessible)
      throw new EdgeError(
        'EDGE_ERR_LED_UNAVAILABLE',
        'sysfs GPIO is not accessible (no /sys/class/gpio, or the user is not in group gpio)',
      );
    const chips = await listGpioChips(options.sysfsRoot);
    const { number, chip } = resolveGpioNumber(chips, options.chipLabels, options.line);
    let pin: GpioPin;
    try {
      pin = new Gpio(number, 'out', 'none', { activeLow: options.activeLow });
    } catch (err) {
      throw new EdgeError(
        'EDGE_ERR_LED_UNAVAILABLE',
        `cannot export GPIO ${number} (${chip.label} line ${options.line}): ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    return new OnoffLed(pin, number, chip);
  }

  private closed = false;

  private constructor(
    private readonly pin: GpioPin,
    readonly number: number,
    readonly chip: GpioChip,
  ) {}

  async set(on: boolean): Promise<void> {
    if (this.closed) return;
    await this.pin.write(on ? 1 : 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.set(false).catch(() => undefined);
    this.closed = true;
    this.pin.unexport();
  }
}
