/** The OPC UA driver's metrics, read from its family's stats() (light: the registry loads it). */
import type { DriverMetric, MetricSample } from '../types.js';
import type { OpcuaCounters } from './device.js';

export type OpcuaStats = ReadonlyMap<string, OpcuaCounters & { readonly up: boolean }>;

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
