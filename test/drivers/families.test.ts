/**
 * Per-device creation and removal through the families (the hooks hot reload uses): a
 * removed device frees its shared line once no other device uses it, the others keep
 * polling, and an agent has the families of the drivers its config uses, with their status
 * and stats (a driver's family, and its modules, come when a device of it is added).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { configSchema } from '../../src/config/schema.js';
import { DriverFamilies, buildDevice, buildDevices, driversUsedBy } from '../../src/drivers/build.js';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import { createModbusFamily, type ModbusFamily } from '../../src/drivers/modbus/family.js';
import { DRIVER_NAMES } from '../../src/drivers/registry.js';
import { fakeTransports } from '../modbus/fake-transport.js';

const rtu = (name: string, unitId: number, baudRate: number) =>
  modbusDeviceSchema.parse({
    name,
    driver: 'modbus',
    unitId,
    connection: { transport: 'rtu', path: '/dev/ttyFAKE', baudRate },
    tags: [{ name: 'a', function: 'holding', address: 0 }],
  });

test('a removed device frees its line once its last user goes; the other device keeps polling', async () => {
  const clock = new ManualClock();
  const family = createModbusFamily(
    { clock, logger: silentLogger, random: () => 1 },
    {
      transportFactory: fakeTransports(clock, {
        1: { holding: { 0: 11 }, latencyMs: 0 },
        2: { holding: { 0: 22 }, latencyMs: 0 },
      }),
    },
  );
  const a = family.create(rtu('a', 1, 9600));
  const b = family.create(rtu('b', 2, 9600));
  a.init();
  b.init();
  await a.start();
  await b.start();
  assert.equal(family.lines().size, 1);

  await family.remove(a);
  assert.equal(family.lines().size, 1, 'b still uses the line');
  const polled = b.poll(['a']);
  await clock.advance(50);
  assert.deepEqual(
    (await polled).map((v) => (v.quality === 'good' ? v.value : v.code)),
    [22],
  );

  await family.remove(b);
  assert.equal(family.lines().size, 0, 'the last user gone, the line is closed and forgotten');
  // Another baud rate on the same path is no conflict any more: the old line is gone.
  const c = family.create(rtu('c', 1, 19200));
  assert.doesNotThrow(() => c.init());
  await family.close();
});

test('only the drivers the config uses have a family; an added device of another driver gets one; one device is built and removed without touching the others', async () => {
  const config = configSchema.parse({
    store: { path: ':memory:' },
    devices: [
      {
        name: 'plc',
        driver: 's7',
        connection: { host: '127.0.0.1', port: 1 },
        tags: [{ name: 't', address: 'DB1,INT0' }],
      },
    ],
  });
  const deps = { clock: new ManualClock(), logger: silentLogger, random: () => 1, onEvent: () => undefined };
  const built = await buildDevices(config, deps);
  for (const name of DRIVER_NAMES)
    assert.equal(built.families.family(name) !== undefined, name === 's7', `${name} family`);
  assert.deepEqual(built.families.status(), {}, 'no Modbus family: no dtu part');
  assert.deepEqual(Object.keys(built.families.stats()), []);
  await built.families.ensure('modbus');
  assert.deepEqual(built.families.status(), { dtu: null }, 'Modbus adds dtu: null without a dtu section');
  assert.ok(Object.keys(built.families.stats()).includes('modbus'));

  const added = buildDevice(
    configSchema.parse({
      devices: [
        {
          name: 'm',
          driver: 'modbus',
          connection: { transport: 'tcp', host: '127.0.0.1', port: 1 },
          tags: [{ name: 'a', function: 'holding', address: 0 }],
        },
      ],
    }).devices[0]!,
    built.families,
    deps,
  );
  assert.equal(added.problem, undefined);
  assert.equal(added.driver.device, 'm');
  await built.families.remove(added.driver);
  assert.equal(built.devices.length, 1);

  // add(): the reload's entry point; a refused device comes back with its problem and path
  const refused = await built.add(
    configSchema.parse({
      devices: [
        {
          name: 'label',
          driver: 'modbus',
          connection: { transport: 'tcp', host: '127.0.0.1' },
          maxRegistersPerRequest: 10,
          tags: [{ name: 'serial', function: 'holding', address: 0, type: 'string', length: 20 }],
        },
      ],
    }).devices[0]!,
    3,
  );
  assert.equal(refused.problem?.code, 'EDGE_ERR_CONFIG_INVALID');
  assert.equal(refused.problem?.path, 'devices[3].tags[0].length');
  assert.equal(refused.driver.status().state, 'unstartable');
  await built.close();
});

test('removing a failover device frees both sources in their families (an S7 primary, a Modbus RTU secondary)', async () => {
  const config = configSchema.parse({
    devices: [
      {
        name: 'plc',
        driver: 's7',
        connection: { host: '127.0.0.1', port: 1 },
        tags: [{ name: 't', address: 'DB1,INT0' }],
        failover: {
          secondary: {
            driver: 'modbus',
            connection: { transport: 'rtu', path: '/dev/ttyNOWHERE' },
            // i16 as the S7 INT: failover refuses a secondary that reads it unsigned.
            tags: [{ name: 't', function: 'holding', address: 0, type: 'i16' }],
          },
        },
      },
    ],
  });
  const deps = { clock: new ManualClock(), logger: silentLogger, random: () => 1, onEvent: () => undefined };
  const built = await buildDevices(config, deps);
  const modbus = built.families.family('modbus') as ModbusFamily;
  assert.equal(built.problems.length, 0);
  assert.equal(modbus.lines().size, 1, "the secondary's line, attached at init");
  await built.families.remove(built.devices[0]!.driver);
  assert.equal(modbus.lines().size, 0);
  await built.close();
});

test('a family of its own per DriverFamilies: two agents in one process share nothing', async () => {
  const config = configSchema.parse({
    devices: [
      {
        name: 'm',
        driver: 'modbus',
        connection: { transport: 'tcp', host: '127.0.0.1', port: 1 },
        tags: [{ name: 'a', function: 'holding', address: 0 }],
      },
    ],
  });
  const deps = { clock: new ManualClock(), logger: silentLogger, random: () => 1 };
  const one = await DriverFamilies.open(config, deps);
  const two = await DriverFamilies.open(config, deps);
  assert.ok(one.family('modbus'));
  assert.notEqual(one.family('modbus'), two.family('modbus'));
  await Promise.all([one.close(), two.close()]);
});

test('a failover secondary and a section each make their driver used', () => {
  const config = configSchema.parse({
    dtu: { links: [{ name: 'line1', mode: 'client', host: '127.0.0.1', port: 1 }] },
    devices: [
      {
        name: 'plc',
        driver: 's7',
        connection: { host: '127.0.0.1', port: 1 },
        tags: [{ name: 't', address: 'DB1,INT0' }],
        failover: {
          secondary: {
            driver: 'opcua',
            endpoint: 'opc.tcp://127.0.0.1:1',
            tags: [{ name: 't', nodeId: 'ns=1;s=t', dataType: 'Double' }],
          },
        },
      },
    ],
  });
  assert.deepEqual([...driversUsedBy(config)].sort(), ['modbus', 'opcua', 's7']);
  assert.deepEqual([...driversUsedBy(configSchema.parse({}))], []);
});
