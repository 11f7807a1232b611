/**
 * The demo's RS-485 bus behind the DTU: a Duplex the DTU simulator uses as its serial
 * port, answering Modbus RTU read requests (functions 1–4) for the devices of a demo map
 * by unit id. An address outside a device's map answers exception 02, which is how the
 * demo shows a bad tag with its code.
 */
import { Duplex } from 'node:stream';
import { systemClock, type Clock } from '../core/clock.js';
import { crcValid, withCrc } from '../drivers/modbus/rtu/crc.js';
import { encodeTag, type DemoDevice } from './station.js';

const ILLEGAL_ADDRESS = 0x02;
const AREAS: Record<number, 'coil' | 'discrete' | 'holding' | 'input'> = {
  1: 'coil',
  2: 'discrete',
  3: 'holding',
  4: 'input',
};

type Image = Record<'coil' | 'discrete' | 'holding' | 'input', Map<number, number>>;

function image(device: DemoDevice, t: number): Image {
  const out: Image = { coil: new Map(), discrete: new Map(), holding: new Map(), input: new Map() };
  for (const tag of device.tags)
    encodeTag(tag, tag.value(t)).forEach((v, i) => out[tag.function].set(tag.address + i, Number(v)));
  return out;
}

/** The answer to one 8-byte read request, or undefined for another unit (RTU slaves stay silent). */
export function answer(
  devices: ReadonlyMap<number, DemoDevice>,
  request: Buffer,
  t: number,
): Buffer | undefined {
  const unit = request[0] ?? 0;
  const fn = request[1] ?? 0;
  const device = devices.get(unit);
  const area = AREAS[fn];
  if (!device || !area) return undefined;
  const address = request.readUInt16BE(2);
  const count = request.readUInt16BE(4);
  const map = image(device, t)[area];
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    const v = map.get(address + i);
    if (v === undefined) return withCrc(Buffer.from([unit, fn | 0x80, ILLEGAL_ADDRESS]));
    values.push(v);
  }
  if (fn <= 2) {
    const bytes = Buffer.alloc(Math.ceil(count / 8));
    values.forEach((v, i) => {
      if (v) bytes[i >> 3] = (bytes[i >> 3] ?? 0) | (1 << (i & 7));
    });
    return withCrc(Buffer.concat([Buffer.from([unit, fn, bytes.length]), bytes]));
  }
  const body = Buffer.alloc(3 + 2 * count);
  body[0] = unit;
  body[1] = fn;
  body[2] = 2 * count;
  values.forEach((v, i) => body.writeUInt16BE(v & 0xffff, 3 + 2 * i));
  return withCrc(body);
}

export function rtuSlaveBus(devices: readonly DemoDevice[], clock: Clock = systemClock): Duplex {
  const byUnit = new Map(devices.map((d) => [d.unitId, d]));
  const t0 = clock.now();
  let pending = Buffer.alloc(0);
  const bus: Duplex = new Duplex({
    read() {
      // Answers are pushed as requests arrive.
    },
    write(chunk: Buffer, _encoding, done) {
      pending = Buffer.concat([pending, chunk]);
      // Read requests are 8 bytes; a frame that does not check is dropped a byte at a time (noise).
      while (pending.length >= 8) {
        if (!crcValid(pending, 0, 8)) {
          pending = pending.subarray(1);
          continue;
        }
        const reply = answer(byUnit, pending.subarray(0, 8), (clock.now() - t0) / 1000);
        pending = pending.subarray(8);
        if (reply) bus.push(reply);
      }
      done();
    },
  });
  return bus;
}
