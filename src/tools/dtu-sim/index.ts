export { startDtuSimulator } from './simulator.js';
export type {
  DtuSimulator,
  DtuSimulatorOptions,
  DtuSimulatorStats,
  SerialOptions,
  ByteSpec,
} from './simulator.js';
export { FAULT_KINDS, hits, parseRate, describeFaults } from './faults.js';
export type { DtuFaults, FaultKind, FaultRate } from './faults.js';
export { parseBytes, toHex } from './bytes.js';
export { seededRandom, randomInt, randomBytes } from './prng.js';
export type { Random } from './prng.js';
export { RtuResponseFramer, crc16modbus, crcOk, withCrc, responseLength } from './rtu-framer.js';
export type { FramingMode, FramerOptions } from './rtu-framer.js';
export { parseDtuSimArgs, DTU_SIM_USAGE } from './cli-args.js';
export type { DtuSimCliOptions } from './cli-args.js';
