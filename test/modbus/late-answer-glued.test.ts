/**
 * Review of issue 11 item 1 on a plain RTU line (modbus-serial's buffered port, a real pty
 * pair): the late answer to a timed-out read arrives in one chunk glued in front of the
 * real answer of the next read of the same shape (a USB adapter's latency timer does
 * that). The port takes the first matching frame; the real answer stayed in its buffer,
 * counted as awaited, so the Line's confirmation saw silence and the previous request's
 * register was published as good.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialPort } from 'serialport';
import { systemClock } from '../../src/core/clock.js';
import { withCrc } from '../../src/drivers/modbus/rtu/crc.js';
import { ModbusSerialTransport } from '../../src/drivers/modbus/transport.js';
import { testLine } from './scripted-line.js';
import { startPtyPair, type PtyPair } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';

const BAUD = 38400;
const UNIT = 1;
const TIMEOUT_MS = 100;

let dir: ReturnType<typeof tempDir> | undefined;
let pty: PtyPair | undefined;

before(async () => {
  dir = tempDir('edge-modbus-glued-');
  pty = await startPtyPair(dir.path, 'glued');
});

after(async () => {
  await pty?.stop();
  dir?.remove();
});

/** FC3 answer of one register whose value is its address. */
function answer(address: number): Buffer {
  return withCrc(Uint8Array.from([UNIT, 3, 2, (address >> 8) & 0xff, address & 0xff]));
}

/** FC3 answer of `count` registers from `address`, each holding its address. */
function registers(address: number, count: number): Buffer {
  const data = Buffer.alloc(2 * count);
  for (let i = 0; i < count; i++) data.writeUInt16BE(address + i, 2 * i);
  return Buffer.from(withCrc(Uint8Array.from([UNIT, 3, 2 * count, ...data])));
}

test('late-answer-glued-before-next-answer (RTU): a late answer glued in front of the real one is never a good value', async (t) => {
  // The slave: answers the fresh line's fence and the first read (priming), is silent for
  // the next read, then writes the late answer and the real one in one write.
  const slave = new SerialPort({ path: pty!.b, baudRate: BAUD, autoOpen: false });
  await new Promise<void>((resolve, reject) => slave.open((err) => (err ? reject(err) : resolve())));
  t.after(() => new Promise<void>((resolve) => slave.close(() => resolve())));
  let requests = 0;
  let pending = Buffer.alloc(0);
  slave.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 8) {
      const address = pending.readUInt16BE(2);
      const count = pending.readUInt16BE(4);
      pending = pending.subarray(8);
      requests++;
      if (requests <= 2) slave.write(registers(address, count));
      if (requests === 4) slave.write(Buffer.concat([answer(0), answer(address)]));
    }
  });

  const connection = {
    transport: 'rtu' as const,
    path: pty!.a,
    baudRate: BAUD,
    dataBits: 8 as const,
    parity: 'none' as const,
    stopBits: 1 as const,
    echoSuppression: false,
  };
  const line = testLine(`rtu:${pty!.a}`, systemClock, new ModbusSerialTransport(connection, systemClock));
  t.after(() => line.close());
  await line.acquire();
  const read = (address: number) =>
    line.execute('m1', { unitId: UNIT, function: 'holding', address, length: 1, timeoutMs: TIMEOUT_MS });

  const primed = await read(20);
  assert.deepEqual(primed.ok ? primed.data : primed.error.code, [20], 'the fresh line fenced, then read');
  const first = await read(0);
  assert.equal(first.ok ? undefined : first.error.code, 'EDGE_ERR_MODBUS_TIMEOUT');
  const second = await read(10);
  assert.equal(requests, 4);
  if (second.ok) assert.deepEqual(second.data, [10], 'a good value must be the requested register');
  else assert.equal(second.error.code, 'EDGE_ERR_MODBUS_LATE_ANSWER');
});
