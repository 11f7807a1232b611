/**
 * The family: one agent's OPC UA devices. Each server has its own client and session
 * (nothing shared); `stats()` feeds the driver's metrics.
 */
import { EdgeError } from '../../core/errors.js';
import type { DeviceDriver } from '../../core/ports.js';
import type { DriverDeps, DriverFamily, DriverMetric, MetricSample } from '../types.js';
import type { OpcuaDeviceConfig } from './config.js';
import { OpcuaDevice, type OpcuaCounters } from './device.js';
import { loadOpcua } from './session.js';

export type OpcuaStats = ReadonlyMap<string, OpcuaCounters & { readonly up: boolean }>;

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

type DeviceStats = OpcuaCounters & { readonly up: boolean };

function perDevice(stats: OpcuaStats | undefined, read: (c: DeviceStats) => number): MetricSample[] {
  return [...(stats ?? new Map<string, DeviceStats>())].map(([device, c]) => [{ device }, read(c)] as const);
}

const TOTALS: ReadonlyArray<readonly [string, string, (c: DeviceStats) => number]> = [
  ['opcua_connection_losses_total', 'Connections lost (node-opcua then reconnects)', (c) => c.lost],
  [
    'opcua_sessions_restored_total',
    'Connections node-opcua re-established with the session',
    (c) => c.restored,
  ],
  [
    'opcua_clients_recreated_total',
    'Clients dropped and recreated with the driver backoff',
    (c) => c.recreated,
  ],
  ['opcua_notifications_total', 'Monitored item notifications received', (c) => c.notifications],
];

export const OPCUA_METRICS: readonly DriverMetric<OpcuaStats>[] = [
  {
    name: 'opcua_up',
    help: '1 while the OPC UA session of the device is up',
    type: 'gauge',
    labels: ['device'],
    samples: (stats) => perDevice(stats, (c) => (c.up ? 1 : 0)),
  },
  ...TOTALS.map(([name, help, read]): DriverMetric<OpcuaStats> => ({
    name,
    help,
    type: 'counter',
    labels: ['device'],
    samples: (stats) => perDevice(stats, read),
  })),
];
