/**
 * One station run in a process of its own, for the headroom search (station.ts): a peer's
 * native code (snap7) started and stopped again in one process aborted it. Prints the
 * StationRun as JSON on its last line of stdout.
 * `node dist/scripts/bench/station-step.js --devices=N --seconds=S --period-ms=P`
 */
import { runStation } from './station-run.js';

const arg = (name: string): number =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]);
const seconds = arg('seconds');
const spread = process.env.STATION_SPREAD;
const slots = process.env.STATION_SLOTS;
const result = await runStation({
  devices: arg('devices'),
  seconds,
  warmupS: Math.min(30, Math.max(10, seconds / 5)),
  periodMs: arg('period-ms'),
  ...(spread === undefined ? {} : { spread: spread !== '0' }),
  ...(slots === undefined ? {} : { slots: Number(slots) }),
});
console.log(JSON.stringify(result));
