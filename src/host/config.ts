/**
 * Config sections for what the agent does with the box it runs on: the watchdog
 * (systemd notify or /dev/watchdog) and the status LED (kernel LED class or GPIO).
 */
import { z } from 'zod';

const WATCHDOG_MODES = ['systemd', 'device', 'off'] as const;
export type WatchdogMode = (typeof WATCHDOG_MODES)[number];

export const watchdogSchema = z.strictObject({
  mode: z
    .enum(WATCHDOG_MODES)
    .optional()
    .describe(
      'systemd: READY/STATUS/WATCHDOG=1 via systemd-notify; device: feed /dev/watchdog directly (boxes without systemd); off. Absent: systemd when NOTIFY_SOCKET is set, else off',
    ),
  notifyCommand: z
    .string()
    .min(1)
    .default('systemd-notify')
    .describe('The systemd-notify binary (mode systemd)'),
  notifyTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(10_000)
    .describe('Kill a systemd-notify that has not returned after this long'),
  device: z
    .string()
    .min(1)
    .default('/dev/watchdog')
    .describe('Watchdog device (mode device); never opened while systemd RuntimeWatchdogSec owns it'),
  deviceFeedMs: z
    .number()
    .int()
    .positive()
    .default(5_000)
    .describe('Feed interval in mode device; keep well under the driver timeout (bcm2835: at most ~15 s)'),
  maxLoopLagMs: z
    .number()
    .int()
    .positive()
    .default(2_000)
    .describe('Event-loop delay above which a ping is withheld'),
  storeStallMs: z
    .number()
    .int()
    .positive()
    .default(60_000)
    .describe('Records pending with no successful commit for this long: store wedged, pings stop'),
  pollStallIntervals: z
    .number()
    .int()
    .positive()
    .default(5)
    .describe('A poller whose loop has not run for this many of its tag intervals stops the pings'),
  pollStallMinMs: z
    .number()
    .int()
    .positive()
    .default(60_000)
    .describe('Lower bound of the poller stall window (covers start backoff and slow shared lines)'),
});
export type WatchdogConfig = z.infer<typeof watchdogSchema>;

const DEFAULT_GPIO_CHIP_LABELS = [
  'pinctrl-bcm2711',
  'pinctrl-bcm2835',
  'pinctrl-rp1',
  'pinctrl-bcm2712',
] as const;

const ledCommon = {
  sysfsRoot: z
    .string()
    .min(1)
    .default('/')
    .describe('Root under which sys/class/... is read (tests, containers)'),
};

const ledNone = z.strictObject({ backend: z.literal('none'), ...ledCommon });

const ledSysfs = z.strictObject({
  backend: z.literal('sysfs-led'),
  name: z
    .string()
    .regex(/^[^/\0]+$/, 'an LED name from /sys/class/leds, without slashes')
    .describe('Kernel LED class name, e.g. the label of dtoverlay=gpio-led,label=edge-status'),
  ...ledCommon,
});

const ledGpio = z.strictObject({
  backend: z.literal('gpio'),
  line: z
    .number()
    .int()
    .min(0)
    .max(127)
    .describe('GPIO line of the SoC controller (BCM number), before the gpiochip base is added'),
  activeLow: z.boolean().default(false),
  chipLabels: z
    .array(z.string().min(1))
    .min(1)
    .default([...DEFAULT_GPIO_CHIP_LABELS])
    .describe('gpiochip labels that name the SoC main GPIO controller, first match wins'),
  ...ledCommon,
});

export const ledSchema = z
  .discriminatedUnion('backend', [ledNone, ledSysfs, ledGpio])
  .default({ backend: 'none', sysfsRoot: '/' })
  .describe(
    'Status LED: none, sysfs-led (kernel LED class, no native code) or gpio (onoff, sysfs GPIO with the gpiochip base)',
  );
export type LedConfig = z.infer<typeof ledSchema>;
