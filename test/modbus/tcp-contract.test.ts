/**
 * The ModbusTransport contract for Modbus TCP, run against a real pymodbus server by both
 * implementations: the agent's own client (tcp/transport.ts, what the driver uses) and
 * modbus-serial (transport.ts, the benchmark's baseline). The same requests must give the
 * same data and the same stable codes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { EdgeError } from '../../src/core/errors.js';
import type { ModbusTransport } from '../../src/drivers/modbus/port.js';
import { ModbusTcpTransport } from '../../src/drivers/modbus/tcp/transport.js';
import { ModbusSerialTransport } from '../../src/drivers/modbus/transport.js';
import { freePort } from '../helpers/net.js';
import { startPymodbus, type Peer, type PymodbusSpec } from '../helpers/pymodbus.js';

const holding = Array.from({ length: 20 }, (_, i) => 1000 + i);
const input = Array.from({ length: 20 }, (_, i) => 2000 + i);
const coils = Array.from({ length: 20 }, (_, i) => i % 3 === 0);
const discretes = Array.from({ length: 20 }, (_, i) => i % 2 === 1);

const spec = (port: number): PymodbusSpec => ({
  transport: 'tcp',
  port,
  ignoreMissing: true, // an absent unit does not answer: the client times out
  slaves: {
    1: {
      holding: { size: 100, values: { 0: holding } },
      input: { size: 100, values: { 0: input } },
      coil: { size: 100, values: { 0: coils } },
      discrete: { size: 100, values: { 0: discretes } },
    },
  },
});

type Make = (port: number) => ModbusTransport;
const implementations: ReadonlyArray<[string, Make]> = [
  ['agent TCP client', (port) => new ModbusTcpTransport({ host: '127.0.0.1', port, clock: systemClock })],
  [
    'modbus-serial',
    (port) => new ModbusSerialTransport({ transport: 'tcp', host: '127.0.0.1', port }, systemClock),
  ],
];

const code = (e: unknown) => (e instanceof EdgeError ? e.code : String(e));

let port = 0;
let server: Peer | undefined;
before(async () => {
  port = await freePort();
  server = await startPymodbus(spec(port));
});
after(() => server?.stop());

for (const [name, make] of implementations) {
  describe(`Modbus TCP transport contract: ${name}`, () => {
    let t: ModbusTransport;
    before(async () => {
      t = make(port);
      await t.connect();
    });
    after(() => t.close());

    it('reads the four tables', async () => {
      assert.equal(t.isOpen, true);
      assert.deepEqual(await t.readHolding(1, 2, 5, 1000), holding.slice(2, 7));
      assert.deepEqual(await t.readInput(1, 0, 20, 1000), input);
      assert.deepEqual(await t.readCoils(1, 1, 11, 1000), coils.slice(1, 12));
      assert.deepEqual(await t.readDiscreteInputs(1, 3, 9, 1000), discretes.slice(3, 12));
    });

    it('an unmapped address is exception 02 with its stable code', async () => {
      await assert.rejects(
        t.readHolding(1, 99, 5, 1000),
        (e: EdgeError) => e.code === 'EDGE_ERR_MODBUS_ILLEGAL_ADDRESS' && e.context.modbusCode === 2,
      );
      assert.deepEqual(await t.readHolding(1, 0, 1, 1000), [1000], 'the connection reads on');
    });

    it('writes FC05, FC06, FC15, FC16 and reads them back', async () => {
      await t.writeValues!(1, 6, 50, [4321], 1000);
      await t.writeValues!(1, 16, 51, [1, 65535, 7], 1000);
      await t.writeValues!(1, 5, 50, [true], 1000);
      await t.writeValues!(1, 15, 60, [true, false, true, true, false, false, false, false, true], 1000);
      assert.deepEqual(await t.readHolding(1, 50, 4, 1000), [4321, 1, 65535, 7]);
      assert.deepEqual(await t.readCoils(1, 50, 1, 1000), [true]);
      assert.deepEqual(await t.readCoils(1, 60, 9, 1000), [
        true,
        false,
        true,
        true,
        false,
        false,
        false,
        false,
        true,
      ]);
    });

    it('an absent unit times out; the next read on the connection is good', async () => {
      await assert.rejects(
        t.readHolding(9, 0, 2, 150),
        (e: unknown) => code(e) === 'EDGE_ERR_MODBUS_TIMEOUT',
      );
      assert.deepEqual(await t.readHolding(1, 0, 2, 1000), holding.slice(0, 2));
    });

    it('close: not open, reads fail DISCONNECTED; connect again reads', async () => {
      await t.close();
      assert.equal(t.isOpen, false);
      await assert.rejects(
        t.readHolding(1, 0, 1, 1000),
        (e: unknown) => code(e) === 'EDGE_ERR_MODBUS_DISCONNECTED',
      );
      await t.connect();
      assert.deepEqual(await t.readHolding(1, 0, 1, 1000), [1000]);
    });

    it('nothing listening: connect rejects EDGE_ERR_MODBUS_CONNECT', async () => {
      const other = make(await freePort());
      await assert.rejects(other.connect(), (e: unknown) => code(e) === 'EDGE_ERR_MODBUS_CONNECT');
      await other.close();
    });
  });
}

describe('Modbus TCP transport contract: the peer goes away', () => {
  for (const [name, make] of implementations) {
    it(`${name}: onClose is called and reads fail DISCONNECTED`, async () => {
      const own = await freePort();
      const peer = await startPymodbus(spec(own));
      const t = make(own);
      try {
        await t.connect();
        assert.deepEqual(await t.readHolding(1, 0, 1, 1000), [1000]);
        const closed = new Promise<void>((resolve) => t.onClose(() => resolve()));
        await peer.stop();
        await closed;
        assert.equal(t.isOpen, false);
        await assert.rejects(
          t.readHolding(1, 0, 1, 1000),
          (e: unknown) => code(e) === 'EDGE_ERR_MODBUS_DISCONNECTED',
        );
      } finally {
        await t.close();
        await peer.stop();
      }
    });
  }
});
