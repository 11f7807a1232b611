/**
 * Modbus configurations that run but are probably not what was meant: warned about by
 * check-config and at start, never refused.
 */
import type { ConfigWarning, DriverDeviceConfig } from '../types.js';
import type { ModbusDeviceConfig } from './config.js';
import { lineKey } from './port.js';
import { tagSize } from './plan.js';

export type { ConfigWarning } from '../types.js';

/** A parsed `devices[i]` entry as far as this lint reads it (the agent's failover option). */
type AgentEntry = DriverDeviceConfig & {
  readonly failover?: { readonly secondary: DriverDeviceConfig & { readonly name?: string } };
};

interface Placed {
  readonly path: string;
  readonly config: ModbusDeviceConfig;
}

/** The Modbus devices of a config, failover secondaries included, with their config paths. */
function modbusDevices(devices: readonly AgentEntry[]): Placed[] {
  const out: Placed[] = [];
  devices.forEach((device, i) => {
    // parsed by the registry's schemas: driver 'modbus' means a ModbusDeviceConfig
    if (device.driver === 'modbus') out.push({ path: `devices[${i}]`, config: device as ModbusDeviceConfig });
    const secondary = device.failover?.secondary;
    if (secondary?.driver === 'modbus') {
      out.push({
        path: `devices[${i}].failover.secondary`,
        config: { ...secondary, name: secondary.name ?? `${device.name}.secondary` } as ModbusDeviceConfig,
      });
    }
  });
  return out;
}

export function modbusWarnings(devices: readonly DriverDeviceConfig[]): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  const byUnit = new Map<string, Placed>();
  for (const placed of modbusDevices(devices)) {
    const { path, config } = placed;
    const transport = config.connection.transport;
    if (config.unitId === 0 && transport !== 'tcp') {
      warnings.push({
        path: `${path}.unitId`,
        message: `device ${config.name}: unit id 0 is the RTU broadcast address; no slave answers a read to it`,
      });
    }
    const key = `${lineKey(config.connection)}#${config.unitId}`;
    const first = byUnit.get(key);
    if (first) {
      warnings.push({
        path: `${path}.unitId`,
        message: `device ${config.name}: unit id ${config.unitId} is also ${first.config.name} (${first.path}) on the same line ${lineKey(config.connection)}`,
      });
    } else byUnit.set(key, placed);
    warnings.push(...overlappingTags(placed));
  }
  return warnings;
}

/** Tags of one device that read some of the same registers or bits. */
function overlappingTags({ path, config }: Placed): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  const spans = config.tags.map((tag, i) => ({
    tag,
    i,
    start: tag.address,
    end: tag.address + tagSize(tag),
  }));
  for (const a of spans) {
    for (const b of spans) {
      if (b.i <= a.i || a.tag.function !== b.tag.function) continue;
      // Different bits of one status register are the usual way to map flags, not an overlap.
      if (a.tag.bit !== undefined && b.tag.bit !== undefined && a.tag.bit !== b.tag.bit) continue;
      if (a.start < b.end && b.start < a.end) {
        warnings.push({
          path: `${path}.tags[${b.i}]`,
          message: `device ${config.name}: tag "${b.tag.name}" overlaps "${a.tag.name}" (${a.tag.function} ${Math.max(a.start, b.start)}..${Math.min(a.end, b.end) - 1})`,
        });
      }
    }
  }
  return warnings;
}
