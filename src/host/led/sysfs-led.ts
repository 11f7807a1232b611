/**
 * Kernel LED class backend: /sys/class/leds/<name>/ (on-board ACT/PWR LEDs, or any GPIO
 * declared with `dtoverlay=gpio-led,gpio=<n>,label=<name>`). Plain file writes, no
 * native code. The trigger is set to `none` first so the kernel stops driving it.
 */
import { access, readFile, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { EdgeError } from '../../core/errors.js';
import type { LedPort } from './led-port.js';

export function ledClassDir(sysfsRoot: string, name: string): string {
  return join(sysfsRoot, 'sys/class/leds', name);
}

export class SysfsLed implements LedPort {
  /** Rejects EDGE_ERR_LED_UNAVAILABLE when the LED is absent or not writable. */
  static async open(sysfsRoot: string, name: string): Promise<SysfsLed> {
    const dir = ledClassDir(sysfsRoot, name);
    const brightness = join(dir, 'brightness');
    try {
      await access(brightness, constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT'
          ? 'no such LED (add dtoverlay=gpio-led,gpio=<n>,label=<name> to config.txt)'
          : `not writable (${code}): add a udev rule or run as a member of the gpio/leds group`;
      throw new EdgeError('EDGE_ERR_LED_UNAVAILABLE', `${dir}: ${why}`, {
        cause: err,
        context: { path: dir },
      });
    }
    const max = Number((await readFile(join(dir, 'max_brightness'), 'utf8').catch(() => '1')).trim()) || 1;
    const led = new SysfsLed(dir, max);
    await writeFile(join(dir, 'trigger'), 'none');
    return led;
  }

  private constructor(
    readonly dir: string,
    private readonly maxBrightness: number,
  ) {}

  async set(on: boolean): Promise<void> {
    await writeFile(join(this.dir, 'brightness'), on ? String(this.maxBrightness) : '0');
  }

  async close(): Promise<void> {
    await this.set(false);
  }

  async blinkInKernel(onMs: number, offMs: number): Promise<void> {
    await writeFile(join(this.dir, 'trigger'), 'timer');
    await writeFile(join(this.dir, 'delay_on'), String(onMs));
    await writeFile(join(this.dir, 'delay_off'), String(offMs));
  }
}
