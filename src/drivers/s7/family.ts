/** The family: one agent's S7 devices. Each PLC has its own connection (nothing shared). */
import { EdgeError } from '../../core/errors.js';
import type { DeviceDriver } from '../../core/ports.js';
import type { DriverDeps, DriverFamily } from '../types.js';
import type { S7DeviceConfig } from './config.js';
import { S7Device } from './device.js';

export class S7Family implements DriverFamily<S7DeviceConfig> {
  private readonly devices = new Set<S7Device>();
  private closed = false;

  constructor(private readonly deps: DriverDeps) {}

  create(config: S7DeviceConfig): S7Device {
    if (this.closed)
      throw new EdgeError('EDGE_ERR_CONFIG_INVALID', 's7 family is closed', {
        context: { device: config.name },
      });
    const device = new S7Device(config, {
      clock: this.deps.clock,
      logger: this.deps.logger,
      random: this.deps.random,
    });
    this.devices.add(device);
    return device;
  }

  async remove(driver: DeviceDriver): Promise<void> {
    const device = [...this.devices].find((d) => d === driver);
    if (!device) return;
    this.devices.delete(device);
    await device.stop().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.devices].map((d) => d.stop().catch(() => undefined)));
    this.devices.clear();
  }
}

export function createS7Family(deps: DriverDeps): S7Family {
  return new S7Family(deps);
}
