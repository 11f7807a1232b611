/**
 * Builds the configured LED backend. An LED that is not there is a warning and the
 * agent runs without one: never a reason not to start.
 */
import type { Clock } from '../../core/clock.js';
import { toEdgeError } from '../../core/errors.js';
import type { Logger } from '../../core/ports.js';
import type { LedConfig } from '../config.js';
import type { LedPort } from './led-port.js';
import { loadOnoff, OnoffLed, type GpioClass } from './onoff-led.js';
import { StatusLed } from './status-led.js';
import { SysfsLed } from './sysfs-led.js';

export interface LedDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** onoff's Gpio; default: dynamic import of onoff. */
  readonly loadGpio?: () => Promise<GpioClass | undefined>;
}

export async function openLedPort(config: LedConfig, deps: LedDeps): Promise<LedPort | undefined> {
  if (config.backend === 'none') return undefined;
  try {
    if (config.backend === 'sysfs-led') return await SysfsLed.open(config.sysfsRoot, config.name);
    const Gpio = await (deps.loadGpio ?? loadOnoff)();
    return await OnoffLed.open(config, Gpio);
  } catch (err) {
    const error = toEdgeError(err, 'EDGE_ERR_LED_UNAVAILABLE');
    deps.logger.warn(
      { code: error.code, err: error.message, backend: config.backend },
      'status LED unavailable; running without it',
    );
    return undefined;
  }
}

/** A StatusLed on the configured backend (a no-op one when there is none). */
export async function createStatusLed(config: LedConfig, deps: LedDeps): Promise<StatusLed> {
  const logger = deps.logger.child({ component: 'led' });
  return new StatusLed(await openLedPort(config, { ...deps, logger }), { clock: deps.clock, logger });
}
