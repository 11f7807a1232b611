/** Shared pieces of the DTU socket tests. */
import type { TestContext } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { TagValue } from '../../src/core/types.js';
import { dtuSchema, type DtuConfigInput } from '../../src/drivers/modbus/dtu/config.js';
import { DtuHub } from '../../src/drivers/modbus/dtu/hub.js';
import { createModbusFamily, type ModbusFamily } from '../../src/drivers/modbus/family.js';
import {
  startDtuSimulator,
  type DtuSimulator,
  type DtuSimulatorOptions,
} from '../../src/tools/dtu-sim/simulator.js';

export { captureLogger, type LogLine } from '../helpers/logger.js';

export const byTag = (vs: readonly TagValue[]): Record<string, unknown> =>
  Object.fromEntries(vs.map((v) => [v.tag, v.quality === 'good' ? v.value : v.code]));

/**
 * A DtuHub on a loopback port, the Modbus family reading through it, and the DTU
 * simulator dialling the hub; all three closed after the test.
 */
export async function startDtuLink(
  t: TestContext,
  config: DtuConfigInput,
  simulator: Omit<DtuSimulatorOptions, 'agent'>,
): Promise<{ hub: DtuHub; fam: ModbusFamily; sim: DtuSimulator }> {
  const { hub, fam } = await startHub(t, config);
  const sim = await startDtuSimulator({
    agent: { host: '127.0.0.1', port: hub.address()!.port },
    ...simulator,
  });
  t.after(() => sim.close());
  return { hub, fam, sim };
}

/** A started DtuHub and the Modbus family reading through it (system clock), closed after the test. */
export async function startHub(
  t: TestContext,
  config: DtuConfigInput,
): Promise<{ hub: DtuHub; fam: ModbusFamily }> {
  const hub = new DtuHub(dtuSchema.parse(config), {
    clock: systemClock,
    logger: silentLogger,
    random: Math.random,
  });
  await hub.start();
  t.after(() => hub.stop());
  const fam = createModbusFamily(
    { clock: systemClock, logger: silentLogger, random: Math.random },
    { dtu: hub },
  );
  t.after(() => fam.close());
  return { hub, fam };
}
