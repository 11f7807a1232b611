/**
 * A secondary whose mapped tags would publish another quantity than the primary's (another
 * kind, sign or range, scaling) is refused when the devices are built (init()), with the
 * tag and the field named; matching ones build. Real driver definitions, no I/O.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { configSchema } from '../../src/config/schema.js';
import { buildDevices } from '../../src/drivers/build.js';

const S7 = { driver: 's7', connection: { host: '127.0.0.1', port: 1 } };
const UA = { driver: 'opcua', endpoint: 'opc.tcp://127.0.0.1:1/x' };
const MB = { driver: 'modbus', connection: { transport: 'tcp', host: '127.0.0.1', port: 1 } };

async function problems(
  primaryTags: unknown[],
  secondary: Record<string, unknown>,
  tagMap?: Record<string, string>,
) {
  const config = configSchema.parse({
    devices: [
      { name: 'plc', ...S7, tags: primaryTags, failover: { secondary, ...(tagMap ? { tagMap } : {}) } },
    ],
  });
  const deps = { clock: new ManualClock(), logger: silentLogger, random: () => 1, onEvent: () => undefined };
  const built = await buildDevices(config, deps);
  await built.close();
  return built.problems.map((p) => ({ path: p.path, message: p.message, code: p.code }));
}

const VOLTAGE = { name: 'voltage', address: 'DB1,INT0', scale: 0.1 };

describe('failover: the secondary publishes what the primary does, or the config is refused', () => {
  it('an S7 INT with scale 0.1 against the raw OPC UA Int16: refused at the secondary tag scale', async () => {
    const [p, ...rest] = await problems([VOLTAGE], {
      ...UA,
      tags: [{ name: 'voltage', nodeId: 'ns=1;s=v', dataType: 'Int16' }],
    });
    assert.equal(rest.length, 0);
    assert.equal(p?.path, 'devices[0].failover.secondary.tags[0].scale');
    assert.equal(p?.code, 'EDGE_ERR_CONFIG_INVALID');
    assert.match(p?.message ?? '', /"voltage".*scale 1, the primary 0\.1/);
  });

  it('an offset on one side only: refused at offset', async () => {
    const [p] = await problems([{ name: 't', address: 'DB1,INT2', offset: -40 }], {
      ...UA,
      tags: [{ name: 't', nodeId: 'ns=1;s=t', dataType: 'Int16' }],
    });
    assert.equal(p?.path, 'devices[0].failover.secondary.tags[0].offset');
  });

  it('an S7 INT against a Modbus u16 (−5 read as 65531): refused at the type, with a tagMap', async () => {
    const [p] = await problems(
      [VOLTAGE, { name: 'temp', address: 'DB1,INT2' }],
      {
        ...MB,
        tags: [
          { name: 'v', function: 'holding', address: 0, type: 'i16', scale: 0.1 },
          { name: 't', function: 'holding', address: 1 },
        ],
      },
      { voltage: 'v', temp: 't' },
    );
    assert.equal(p?.path, 'devices[0].failover.secondary.tags[1].type');
    assert.match(p?.message ?? '', /"t" for "temp" reads UInt16.*Int16/);
  });

  it('a number against a Boolean, and an integer against a floating-point value: refused at the dataType', async () => {
    const [bool] = await problems([{ name: 'run', address: 'DB1,X4.0' }], {
      ...UA,
      tags: [{ name: 'run', nodeId: 'ns=1;s=run', dataType: 'Int16' }],
    });
    assert.equal(bool?.path, 'devices[0].failover.secondary.tags[0].dataType');
    const [float] = await problems([VOLTAGE], {
      ...UA,
      tags: [{ name: 'voltage', nodeId: 'ns=1;s=v', dataType: 'Double', scale: 0.1 }],
    });
    assert.equal(float?.path, 'devices[0].failover.secondary.tags[0].dataType');
    assert.match(float?.message ?? '', /Double \(float\), the primary Int16 \(integer\)/);
  });

  it('matching pairs build: same scaling, a wider integer, REAL against f32, Boolean against a coil', async () => {
    assert.deepEqual(
      await problems([VOLTAGE, { name: 'count', address: 'DB1,INT2' }, { name: 'p', address: 'DB1,REAL4' }], {
        ...UA,
        tags: [
          { name: 'voltage', nodeId: 'ns=1;s=v', dataType: 'Int16', scale: 0.1 },
          { name: 'count', nodeId: 'ns=1;s=c', dataType: 'Int32' },
          { name: 'p', nodeId: 'ns=1;s=p', dataType: 'Double' },
        ],
      }),
      [],
    );
    assert.deepEqual(
      await problems(
        [
          { name: 'p', address: 'DB1,REAL0' },
          { name: 'run', address: 'DB1,X4.0' },
        ],
        {
          ...MB,
          tags: [
            { name: 'p', function: 'holding', address: 0, type: 'f32' },
            { name: 'run', function: 'coil', address: 0, type: 'bool' },
          ],
        },
      ),
      [],
    );
  });
});
