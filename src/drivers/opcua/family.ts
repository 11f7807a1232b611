/** The family: one agent's OPC UA devices. Each server has its own client and session (nothing shared). */
import { EdgeError } from '../../core/errors.js';
import type { DriverDeps, DriverFamily } from '../types.js';
import type { OpcuaDeviceConfig } from './config.js';
import { OpcuaDevice } from './device.js';

export class OpcuaFamily implements DriverFamily<OpcuaDeviceConfig> {
  private readonly devices = new Set<OpcuaDevice>();
  private closed = false;

  constructor(private readonly deps: DriverDeps) {}

  create(config: OpcuaDeviceConfig): OpcuaDevice {
    if (this.closed)
      throw new EdgeError('EDGE_ERR_CONFIG_INVALID', 'opcua family is closed', {
        context: { device: config.name },
      });
    const device = new OpcuaDevice(config, {
      clock: this.deps.clock,
      logger: this.deps.logger,
      random: this.deps.random,
    });
    this.devices.add(device);
    return device;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.devices].map((d) => d.stop().catch(() => undefined)));
    this.devices.clear();
  }
}
