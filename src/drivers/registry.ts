/**
 * The one place that lists the drivers (Telegraf's `all/`). Adding a driver = one line in
 * DRIVERS; config schemas, the error catalogue, link-down codes, status and metrics derive
 * from the definitions (src/drivers/types.ts, docs/writing-a-driver.md).
 */
import { registerErrorCodes } from '../core/errors.js';
import { modbusDriver } from './modbus/index.js';
import { opcuaDriver } from './opcua/index.js';
import { s7Driver } from './s7/index.js';
import type {
  AnyDriverDefinition,
  DriverDefinition,
  DriverDeviceConfig,
  DriverHostNeeds,
  DriverMetric,
} from './types.js';

export const DRIVERS = [
  modbusDriver,
  s7Driver,
  opcuaDriver,
] as const satisfies readonly AnyDriverDefinition[];

type Registered = (typeof DRIVERS)[number];
type ConfigOf<D> = D extends DriverDefinition<infer C, infer _S, infer _St> ? C : never;

/** A device config as its driver sees it (the union of the registered drivers' configs). */
export type DeviceConfig = ConfigOf<Registered>;
export type DriverName = DeviceConfig['driver'];

export const DRIVER_NAMES: readonly DriverName[] = DRIVERS.map((d) => d.name);

const byName = new Map<string, AnyDriverDefinition>(DRIVERS.map((d) => [d.name, d]));

/** The definition of a registered driver (undefined: not registered). */
export function driverDefinition(name: string): AnyDriverDefinition | undefined {
  return byName.get(name);
}

for (const definition of DRIVERS) registerErrorCodes(definition.name, definition.errors);

/** What the configured devices need on the host, by their drivers (serial ports, certificates). */
export function driverHostNeeds(devices: readonly DriverDeviceConfig[]): Required<DriverHostNeeds> {
  const serialPorts: string[] = [];
  const certificates: { label: string; path: string }[] = [];
  for (const device of devices) {
    const needs = driverDefinition(device.driver)?.hostNeeds?.(device);
    serialPorts.push(...(needs?.serialPorts ?? []));
    certificates.push(...(needs?.certificates ?? []));
  }
  return { serialPorts, certificates };
}

/** Every driver's metrics, with the driver whose `stats()` they read. */
export function driverMetrics(): readonly {
  readonly driver: string;
  readonly metric: DriverMetric<unknown>;
}[] {
  return (DRIVERS as readonly AnyDriverDefinition[]).flatMap((d) =>
    (d.metrics ?? []).map((metric: DriverMetric<unknown>) => ({ driver: d.name, metric })),
  );
}
