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
  ...DTU_METRICS,
];
