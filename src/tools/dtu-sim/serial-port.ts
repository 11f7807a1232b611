/**
 * Opens the simulator's serial side when it is a real port (tests hand in a stream
 * instead). Apart from the simulator so that the port's defaults (9600 8N1) are in one
 * place; the simulator owns and closes what this opens.
 */
import { SerialPort } from 'serialport';
import type { SerialOptions } from './types.js';

export async function openSerial(opts: SerialOptions): Promise<SerialPort> {
  const port = new SerialPort({
    path: opts.path,
    baudRate: opts.baudRate ?? 9600,
    dataBits: opts.dataBits ?? 8,
    parity: opts.parity ?? 'none',
    stopBits: opts.stopBits ?? 1,
    autoOpen: false,
  });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  return port;
}
