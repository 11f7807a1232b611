/**
 * The family: one agent's OPC UA devices. Each server has its own client and session
 * (nothing shared); `stats()` feeds the driver's metrics.
 */
import { EdgeError } from '../../core/errors.js';
import type { DeviceDriver } from '../../core/ports.js';
import type { DriverDeps, DriverFamily } from '../types.js';
import type { OpcuaDeviceConfig } from './config.js';
import { OpcuaDevice } from './device.js';
import type { OpcuaStats } from './metrics.js';
import { loadOpcua } from './session.js';

export type { OpcuaStats } from './metrics.js';

export class OpcuaFamily implements DriverFamily<OpcuaDeviceConfig> {
  private readonly devices = new Set<OpcuaDevice>();
  private closed = false;

  constructor(private readonly deps: DriverDeps) {}

  create(config: OpcuaDeviceConfig): OpcuaDevice {
    if (this.closed)
      throw new EdgeError('EDGE_ERR_CONFIG_INVALID', 'opcua family is closed', {
        context: { device: config.name },
      });
    const device = new OpcuaDevice(config, this.deps);
    this.devices.add(device);
    return device;
  }

  /**
   * Loads node-opcua when the config has OPC UA devices, before the pollers start: its
   * import blocks the event loop for about a second, which would otherwise land in the
   * middle of other devices' first connects and time them out. No devices: nothing loaded.
   */
  async start(): Promise<void> {
    if (this.devices.size > 0) await loadOpcua(this.deps.logger);
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

  stats(): OpcuaStats {
    return new Map([...this.devices].map((d) => [d.device, { ...d.counters(), up: d.up }]));
  }
}
