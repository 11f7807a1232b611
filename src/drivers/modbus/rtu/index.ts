/** Modbus RTU framing over byte streams (pure). */
export { crc16, crcValid, withCrc } from './crc.js';
export {
  buildReadRequest,
  responseByteCount,
  scanForResponse,
  RtuResponseReader,
  frameRegisters,
  frameBits,
  MAX_RTU_FRAME,
  type Expectation,
  type ReadFunctionCode,
  type RtuFrame,
  type ReaderCounters,
} from './frame.js';
export { HeartbeatFilter } from './heartbeat.js';
