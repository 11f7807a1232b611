/**
 * sysfs GPIO numbers after kernel 6.6: each gpiochip's lines start at its `base`, no
 * longer 0 for the SoC (512 on Pi 4, 571 on Pi 5), so the old BCM numbers fail with
 * EINVAL on export (onoff issues #197, #199, #200). The SoC's main controller is found by
 * its `label` (pinctrl-bcm2711, pinctrl-rp1, pinctrl-bcm2835…) and the number to export
 * is base + line.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgeError } from '../../core/errors.js';

export interface GpioChip {
  /** Directory name, e.g. gpiochip512. */
  readonly name: string;
  readonly base: number;
  readonly ngpio: number;
  readonly label: string;
}

export function gpioClassDir(sysfsRoot: string): string {
  return join(sysfsRoot, 'sys/class/gpio');
}

/** Every gpiochip under <root>/sys/class/gpio, sorted by base; [] when sysfs GPIO is absent. */
export async function listGpioChips(sysfsRoot: string): Promise<GpioChip[]> {
  const dir = gpioClassDir(sysfsRoot);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /^gpiochip\d+$/.test(n));
  } catch {
    return [];
  }
  const chips: GpioChip[] = [];
  for (const name of names) {
    const read = (file: string): Promise<string> =>
      readFile(join(dir, name, file), 'utf8').then((s) => s.trim());
    try {
      const [base, ngpio, label] = await Promise.all([read('base'), read('ngpio'), read('label')]);
      if (!/^\d+$/.test(base) || !/^\d+$/.test(ngpio)) continue;
      chips.push({ name, base: Number(base), ngpio: Number(ngpio), label });
    } catch {
      // A chip directory without the attributes is not one we can use.
    }
  }
  return chips.sort((a, b) => a.base - b.base);
}

/** The chip whose label comes first in `labels`; undefined when none matches. */
function pickSocChip(chips: readonly GpioChip[], labels: readonly string[]): GpioChip | undefined {
  for (const label of labels) {
    const chip = chips.find((c) => c.label === label);
    if (chip) return chip;
  }
  return undefined;
}

/** The sysfs number of SoC line `line`: base + line. Throws EDGE_ERR_LED_GPIO_BASE. */
export function resolveGpioNumber(
  chips: readonly GpioChip[],
  labels: readonly string[],
  line: number,
): { number: number; chip: GpioChip } {
  const chip = pickSocChip(chips, labels);
  if (!chip) {
    const found = chips.map((c) => `${c.name}=${c.label}`).join(', ') || 'none';
    throw new EdgeError(
      'EDGE_ERR_LED_GPIO_BASE',
      `no gpiochip labelled ${labels.join(' | ')} (found: ${found}); set led.chipLabels`,
      {
        context: { field: 'led.chipLabels' },
      },
    );
  }
  if (line >= chip.ngpio) {
    throw new EdgeError(
      'EDGE_ERR_LED_GPIO_BASE',
      `led.line ${line} is outside ${chip.name} (${chip.label}, ${chip.ngpio} lines)`,
      {
        context: { field: 'led.line' },
      },
    );
  }
  return { number: chip.base + line, chip };
}
