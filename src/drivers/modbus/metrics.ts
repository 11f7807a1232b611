/** The Modbus driver's metrics, read from its family's stats() at each scrape. */
import type { DriverMetric } from '../types.js';
import { DTU_METRICS } from './dtu/metrics.js';
import type { ModbusStats } from './family.js';

export const MODBUS_METRICS: readonly DriverMetric<ModbusStats>[] = [
  {
    name: 'modbus_late_answers_total',
    help: 'Modbus RTU/DTU answers that came after their timeout and were discarded, per line',
    type: 'counter',
    labels: ['line'],
    samples: (stats) => Object.entries(stats?.lateAnswers ?? {}).map(([line, n]) => [{ line }, n] as const),
  },
  {
    name: 'modbus_stale_bytes_total',
    help: 'Bytes already on a Modbus RTU/DTU line when it opened or its DTU link came up, discarded unread, per line',
    type: 'counter',
    labels: ['line'],
    samples: (stats) => Object.entries(stats?.staleBytes ?? {}).map(([line, n]) => [{ line }, n] as const),
  },
  {
    name: 'modbus_fences_total',
    help: 'Fence reads sent on a Modbus RTU/DTU line because a unit owed an answer, per line',
    type: 'counter',
    labels: ['line'],
    samples: (stats) => Object.entries(stats?.fences ?? {}).map(([line, n]) => [{ line }, n] as const),
  },
  ...DTU_METRICS,
];
