import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import ModbusSerial from 'modbus-serial';
import type { DemoValue } from '../../src/demo/station.js';
import { ManualClock } from '../../src/core/clock.js';
import { demoConfig, type DemoTagConfig } from '../../src/demo/config.js';
import { startSimulatedModbusServer, type SimulatedModbusServer } from '../../src/demo/simulator.js';
import { DEMO_STATION } from '../../src/demo/station.js';

/** Decodes registers as the agent's config describes them (independent of the simulator's encoder). */
function decode(tag: DemoTagConfig, words: number[]): number | string {
  const ordered = tag.byteOrder === 'little' ? words.map((w) => ((w & 0xff) << 8) | (w >> 8)) : [...words];
  if (tag.type === 'string') {
    const bytes = Buffer.alloc(ordered.length * 2);
    ordered.forEach((w, i) => bytes.writeUInt16BE(w, i * 2));
    return bytes.toString('latin1').replace(/\0+$/, '');
  }
  if (tag.wordOrder === 'little') ordered.reverse();
  const buf = Buffer.alloc(ordered.length * 2);
  ordered.forEach((w, i) => buf.writeUInt16BE(w, i * 2));
  const raw = (() => {
    switch (tag.type) {
      case 'u16':
        return buf.readUInt16BE(0);
      case 'i16':
        return buf.readInt16BE(0);
      case 'u32':
        return buf.readUInt32BE(0);
      case 'i32':
        return buf.readInt32BE(0);
      case 'f32':
        return buf.readFloatBE(0);
      case 'f64':
        return buf.readDoubleBE(0);
      default:
        throw new Error(`unexpected type ${tag.type}`);
    }
  })();
  return raw * tag.scale + tag.offset;
}

// Under NodeNext the CJS typings expose the client class as `.default` (which modbus-serial
// also sets at run time: module.exports.default = module.exports).
const ModbusRTU = ModbusSerial.default;

const WORDS: Record<string, number> = { u16: 1, i16: 1, u32: 2, i32: 2, f32: 2, f64: 4 };

describe('simulated Modbus TCP station', () => {
  const clock = new ManualClock();
  let server: SimulatedModbusServer;
  const client = new ModbusRTU();

  before(async () => {
    server = await startSimulatedModbusServer({ host: '127.0.0.1', port: 0, clock });
    await client.connectTCP('127.0.0.1', { port: server.port });
    client.setTimeout(2000);
  });
  after(async () => {
    await new Promise<void>((r) => client.close(() => r()));
    await server.close();
  });

  async function readTag(unitId: number, tag: DemoTagConfig): Promise<number | string | boolean> {
    client.setID(unitId);
    switch (tag.function) {
      case 'coil':
        return (await client.readCoils(tag.address, 1)).data[0]!;
      case 'discrete':
        return (await client.readDiscreteInputs(tag.address, 1)).data[0]!;
      case 'holding':
      case 'input': {
        const count = tag.type === 'string' ? (tag.length ?? 1) : WORDS[tag.type]!;
        const res =
          tag.function === 'holding'
            ? await client.readHoldingRegisters(tag.address, count)
            : await client.readInputRegisters(tag.address, count);
        return decode(tag, res.data);
      }
    }
  }

  it('serves every tag of demoConfig with the expected value, at several instants', async () => {
    const config = demoConfig({
      modbusPort: server.port,
      mqttUrl: 'mqtt://127.0.0.1:1883',
      dataDir: '/tmp/x',
    });
    for (const step of [0, 17_000, 123_000, 571_000]) {
      await clock.advance(step);
      const t = (clock.now() - 1_700_000_000_000) / 1000;
      for (const device of config.devices) {
        const model = DEMO_STATION.find((d) => d.name === device.name);
        assert.ok(model, device.name);
        assert.equal(device.connection.port, server.port);
        for (const tag of device.tags) {
          const modelTag: (typeof model.tags)[number] | undefined = model.tags.find(
            (x) => x.name === tag.name,
          );
          assert.ok(modelTag);
          const expected: DemoValue = modelTag.value(t);
          const actual = await readTag(device.unitId, tag);
          if (typeof expected === 'number') {
            assert.equal(typeof actual, 'number', `${device.name}.${tag.name}`);
            const tolerance = tag.type === 'f32' ? Math.abs(expected) * 1e-6 : tag.scale / 2 + 1e-9;
            assert.ok(
              Math.abs((actual as number) - expected) <= tolerance,
              `${device.name}.${tag.name} at t=${t}: ${actual} vs ${expected}`,
            );
          } else {
            assert.equal(actual, expected, `${device.name}.${tag.name} at t=${t}`);
          }
        }
      }
    }
  });

  it('reads plausible station values and moves them over time', async () => {
    client.setID(1);
    const res = await client.readHoldingRegisters(0, 9);
    const meter = res.data;
    const voltage = res.buffer.readFloatBE(0);
    assert.ok(voltage > 220 && voltage < 240, `voltage ${voltage}`);
    const frequency = meter[8]! * 0.01;
    assert.ok(frequency > 49.9 && frequency < 50.1, `frequency ${frequency}`);
    const energyBefore = (meter[7]! << 16) + meter[6]!; // low word first

    client.setID(2);
    const serial = (await client.readHoldingRegisters(100, 6)).buffer.toString('latin1');
    assert.equal(serial, 'BMS24A001234');
    const temp = (await client.readInputRegisters(1, 1)).buffer.readInt16BE(0) * 0.1;
    assert.ok(temp > -10 && temp < 40, `temperature ${temp}`);

    await clock.advance(3_600_000);
    client.setID(1);
    const later = (await client.readHoldingRegisters(6, 2)).data;
    const energyAfter = (later[1]! << 16) + later[0]!;
    assert.ok(energyAfter > energyBefore, `energy ${energyBefore} -> ${energyAfter}`);
  });

  it('answers an unmapped address with exception 02 and an unknown unit with 0B', async () => {
    client.setID(1);
    await assert.rejects(
      client.readHoldingRegisters(50, 2),
      (err: { modbusCode?: number }) => err.modbusCode === 2,
    );
    client.setID(9);
    await assert.rejects(
      client.readHoldingRegisters(0, 2),
      (err: { modbusCode?: number }) => err.modbusCode === 0x0b,
    );
    client.setID(1);
    assert.equal((await client.readHoldingRegisters(8, 1)).data.length, 1, 'still serving');
  });
});

describe('startSimulatedModbusServer', () => {
  it('fails clearly when an explicit port is taken', async () => {
    const first = await startSimulatedModbusServer();
    try {
      await assert.rejects(
        startSimulatedModbusServer({ port: first.port }),
        /modbus simulator cannot listen on 127\.0\.0\.1:\d+/,
      );
    } finally {
      await first.close();
    }
  });
});
