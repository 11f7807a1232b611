/**
 * What the status LED says, and how. One LED, on/off only, read by a technician from a
 * few metres: patterns differ in rhythm, not brightness. Each pattern is a list of
 * durations in ms alternating on, off, on, off… (starting with on) repeated forever;
 * one entry means solid on. The table is documented in docs/led.md; keep both in step.
 */

/** Conditions, highest priority first: when several hold, the first one shows. */
const LED_CONDITIONS = ['fatal', 'ota', 'booting', 'store-and-forward', 'device-fault', 'online'] as const;
export type LedCondition = (typeof LED_CONDITIONS)[number];

export interface LedPattern {
  readonly name: LedCondition | 'off';
  /** on, off, on, off… in ms; [] = off, one entry = solid on. */
  readonly steps: readonly number[];
}

export const LED_PATTERNS: Readonly<Record<LedCondition, LedPattern>> = {
  // Three quick flashes then a pause, like a distress call: stands out from everything else.
  fatal: { name: 'fatal', steps: [150, 150, 150, 150, 150, 1250] },
  // Fast flicker: "busy, do not power off".
  ota: { name: 'ota', steps: [80, 80] },
  // Even 2 Hz blink while starting.
  booting: { name: 'booting', steps: [250, 250] },
  // Slow even blink: running, but the broker is unreachable; data is being kept.
  'store-and-forward': { name: 'store-and-forward', steps: [1000, 1000] },
  // Double flash then a pause: a southbound device does not answer.
  'device-fault': { name: 'device-fault', steps: [150, 150, 150, 1550] },
  // On with a short dark blip every 2 s: alive (a frozen process would leave it solid or dark).
  online: { name: 'online', steps: [1900, 100] },
};

export const LED_OFF: LedPattern = { name: 'off', steps: [] };

/** The pattern for the highest-priority active condition; off when none. */
export function patternFor(active: ReadonlySet<LedCondition>): LedPattern {
  for (const condition of LED_CONDITIONS) if (active.has(condition)) return LED_PATTERNS[condition];
  return LED_OFF;
}
