/** Doctor check of the status LED: the sysfs paths it needs, the gpiochip base, permissions. */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { EdgeConfig } from '../../config/schema.js';
import { gpioClassDir, listGpioChips, resolveGpioNumber } from '../led/gpio-base.js';
import { ledClassDir } from '../led/sysfs-led.js';
import { fail, ok, warn, type CheckResult, type DoctorEnv } from './env.js';

const writable = (path: string): Promise<boolean> =>
  access(path, constants.W_OK).then(
    () => true,
    () => false,
  );

export async function checkLed(config: EdgeConfig, env: DoctorEnv): Promise<CheckResult[]> {
  const led = config.led;
  // The config's sysfsRoot is for tests; the doctor's root decides where it looks.
  const root = env.root;
  if (led.backend === 'none') return [ok('led', 'no status LED configured (led.backend none)')];
  if (led.backend === 'sysfs-led') {
    const dir = ledClassDir(root, led.name);
    if (
      !(await access(dir).then(
        () => true,
        () => false,
      ))
    ) {
      return [
        warn(
          'led',
          `/sys/class/leds/${led.name} does not exist`,
          `add dtoverlay=gpio-led,gpio=<n>,label=${led.name} to /boot/firmware/config.txt and reboot`,
        ),
      ];
    }
    if (!(await writable(join(dir, 'brightness')))) {
      return [
        warn(
          'led',
          `/sys/class/leds/${led.name}/brightness is not writable by ${env.user}`,
          'add a udev rule giving the LED files to group gpio (deploy/ udev rules)',
        ),
      ];
    }
    return [ok('led', `/sys/class/leds/${led.name} writable`)];
  }
  const chips = await listGpioChips(root);
  if (chips.length === 0)
    return [
      warn(
        'led',
        'no /sys/class/gpio/gpiochip*: sysfs GPIO is absent',
        'use led.backend sysfs-led with dtoverlay=gpio-led instead (no sysfs GPIO needed)',
      ),
    ];
  let resolved;
  try {
    resolved = resolveGpioNumber(chips, led.chipLabels, led.line);
  } catch (err) {
    return [
      fail('led', (err as Error).message, 'set led.chipLabels to the SoC controller label listed above'),
    ];
  }
  const { number, chip } = resolved;
  const fact = `line ${led.line} on ${chip.name} (${chip.label}, base ${chip.base}) is sysfs GPIO ${number}`;
  if (!(await writable(join(gpioClassDir(root), 'export')))) {
    return [
      warn(
        'led',
        `${fact}; /sys/class/gpio/export is not writable by ${env.user}`,
        `sudo usermod -aG gpio ${env.user}`,
      ),
    ];
  }
  return [ok('led', fact)];
}
