/**
 * A seeded, generated day of a bike-charging station for the uplink bench: meters whose
 * energy counters drift slowly, voltages and frequency with noise, temperatures with a
 * daily cycle, pile status bits that rarely flip, charging sessions, and one device that
 * drops off for a while (bad values with a code). Same seed, same trace.
 */
import type { DeviceReportPolicy } from '../../src/core/report-filter.js';
import { badValue, goodValue, type TagValue } from '../../src/core/types.js';
import { seededRandom } from '../../src/tools/dtu-sim/prng.js';

export interface TraceDevice {
  readonly name: string;
  readonly report: DeviceReportPolicy;
  /** One entry per poll: the values the driver returned. */
  readonly polls: TagValue[][];
}

export interface Trace {
  readonly t0: number;
  readonly pollMs: number;
  readonly polls: number;
  readonly devices: readonly TraceDevice[];
}

const MAX_PERIOD_MS = 300_000;
const round = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits;

function policy(deadbands: Record<string, number>): DeviceReportPolicy {
  const tags: Record<string, { deadband: { abs: number } }> = {};
  for (const [tag, abs] of Object.entries(deadbands)) tags[tag] = { deadband: { abs } };
  return { mode: 'change', deadband: { abs: 0 }, minIntervalMs: 0, maxPeriodMs: MAX_PERIOD_MS, tags };
}

/** Shape of one device kind: its report policy and a stateful sampler. */
interface Kind {
  readonly report: DeviceReportPolicy;
  sample(t: number): TagValue[];
}

function meter(rnd: () => number): Kind {
  let energy = 10_000 + rnd() * 5000;
  let voltage = 230;
  let current = 0;
  let charging = false;
  return {
    report: policy({ voltage: 1, current: 0.2, power: 50, energy_import: 0.1, frequency: 0.05 }),
    sample(t) {
      if (rnd() < 1 / 400) charging = !charging; // sessions of ~30 min at 5 s polls
      const target = charging ? 12 + rnd() * 0.3 : 0.05 * rnd();
      current += (target - current) * 0.3;
      voltage += (230 - voltage) * 0.05 + (rnd() - 0.5) * 0.4;
      const power = voltage * current;
      energy += (power * 5) / 3_600_000;
      return [
        goodValue('voltage', round(voltage, 1)),
        goodValue('current', round(current, 2)),
        goodValue('power', round(power, 0)),
        goodValue('energy_import', round(energy, 3)),
        goodValue('frequency', round(50 + Math.sin(t / 7_000_000) * 0.03 + (rnd() - 0.5) * 0.02, 2)),
      ];
    },
  };
}

function pile(rnd: () => number): Kind {
  let slots = 0;
  let door = false;
  let fault = false;
  let temp = 18;
  return {
    report: policy({ temperature: 0.5, slots_busy: 0 }),
    sample(t) {
      if (rnd() < 1 / 600) slots = Math.max(0, Math.min(8, slots + (rnd() < 0.5 ? -1 : 1)));
      if (rnd() < 1 / 5000) door = !door;
      if (rnd() < 1 / 20_000) fault = !fault;
      const daily = 18 + 6 * Math.sin(((t / 86_400_000) * 2 - 0.5) * Math.PI);
      temp += (daily + slots * 0.8 - temp) * 0.01 + (rnd() - 0.5) * 0.1;
      return [
        goodValue('slots_busy', slots),
        goodValue('door_open', door),
        goodValue('fault', fault),
        goodValue('charging', slots > 0),
        goodValue('temperature', round(temp, 1)),
      ];
    },
  };
}

function environment(rnd: () => number): Kind {
  let humidity = 60;
  return {
    report: policy({ temperature: 0.5, humidity: 2 }),
    sample(t) {
      const daily = 15 + 8 * Math.sin(((t / 86_400_000) * 2 - 0.5) * Math.PI);
      humidity += (70 - daily - humidity) * 0.002 + (rnd() - 0.5) * 0.2;
      return [
        goodValue('temperature', round(daily + (rnd() - 0.5) * 0.1, 1)),
        goodValue('humidity', round(humidity, 1)),
      ];
    },
  };
}

/** `devices` of the kinds in turn (meter, pile, pile, environment, …), polled every pollMs for `hours`. */
export function stationDay(seed: number, devices = 10, pollMs = 5000, hours = 24): Trace {
  const rnd = seededRandom(seed);
  const t0 = 1_700_000_000_000;
  const polls = Math.round((hours * 3_600_000) / pollMs);
  const makers = [meter, pile, pile, environment];
  const out: TraceDevice[] = [];
  for (let d = 0; d < devices; d++) {
    const make = makers[d % makers.length] ?? meter;
    const kind = make(rnd);
    const name = `${make.name}-${d}`;
    // One device drops off for 10 min at a random time: bad values, then good again.
    const outageAt = d === 1 ? Math.floor(rnd() * (polls - 200)) : -1;
    const series: TagValue[][] = [];
    for (let p = 0; p < polls; p++) {
      const values = kind.sample(p * pollMs);
      series.push(
        outageAt >= 0 && p >= outageAt && p < outageAt + 120
          ? values.map((v) => badValue(v.tag, 'EDGE_ERR_MODBUS_TIMEOUT', 'no response within 1500 ms'))
          : values,
      );
    }
    out.push({ name, report: kind.report, polls: series });
  }
  return { t0, pollMs, polls, devices: out };
}
