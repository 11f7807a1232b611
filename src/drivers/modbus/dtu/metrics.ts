/** The DTU links' metrics (edge_dtu_*), read from the Modbus family's stats() at each scrape. */
import type { DriverMetric, MetricSample } from '../../types.js';
import type { ModbusStats } from '../family.js';
import type { DtuStatus } from './hub.js';

function perLink(stats: ModbusStats | undefined, read: (d: DtuStatus) => number): MetricSample[] {
  return Object.entries(stats?.dtus ?? {}).map(([dtu, d]) => [{ dtu }, read(d)] as const);
}

const TOTALS: ReadonlyArray<readonly [string, string, (d: DtuStatus) => number]> = [
  ['dtu_bytes_received_total', 'Bytes received from the DTU (heartbeats included)', (d) => d.bytesIn],
  ['dtu_bytes_sent_total', 'Bytes sent to the DTU', (d) => d.bytesOut],
  ['dtu_heartbeats_total', 'Heartbeat packets recognised and stripped', (d) => d.heartbeats],
  ['dtu_timeouts_total', 'Requests on the link that got no valid response in time', (d) => d.timeouts],
  ['dtu_crc_errors_total', 'Candidate frames rejected by their CRC', (d) => d.crcErrors],
  ['dtu_garbage_bytes_total', 'Bytes discarded while resynchronising on the stream', (d) => d.garbageBytes],
  [
    'dtu_registrations_total',
    'Registrations accepted (server) or connections made (client)',
    (d) => d.registrations,
  ],
  ['dtu_liveness_closes_total', 'Links closed after missed heartbeats', (d) => d.livenessCloses],
];

export const DTU_METRICS: readonly DriverMetric<ModbusStats>[] = [
  {
    name: 'dtu_up',
    help: '1 while the DTU link is registered (server) or connected (client)',
    type: 'gauge',
    labels: ['dtu'],
    samples: (stats) => perLink(stats, (d) => (d.up ? 1 : 0)),
  },
  ...TOTALS.map(([name, help, read]): DriverMetric<ModbusStats> => ({
    name,
    help,
    type: 'counter',
    labels: ['dtu'],
    samples: (stats) => perLink(stats, read),
  })),
  {
    name: 'dtu_unknown_registrations_total',
    help: 'Connections closed because no configured DTU matched their registration',
    type: 'counter',
    labels: [],
    samples: (stats) => [[{}, stats?.dtuUnknownRegistrations ?? 0]],
  },
];
