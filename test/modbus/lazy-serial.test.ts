/**
 * A station whose Modbus lines are all TCP or DTU never loads modbus-serial, serialport
 * (with its native binding) nor the agent's serial transport modules; an RTU device added
 * by a reload to the running agent loads them at its line's first connect and reads good
 * values. Fresh child processes (test/agent/fixtures/lazy-child.ts under the load
 * recorder), so nothing this file imports can mask a load.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freePort } from '../helpers/net.js';
import { rtuSlavesOnPty } from '../helpers/rtu-slaves.js';
import { tempDir } from '../helpers/tmp.js';
import { runLazyChild } from '../agent/fixtures/run-lazy-child.js';

/** The serial packages: modbus-serial, serialport and every @serialport/* (bindings, parsers). */
const SERIAL_PACKAGE = /^(modbus-serial$|serialport$|@serialport\/)/;
const SERIAL_MODULES = [
  'drivers/modbus/transport.js',
  'drivers/modbus/serial-stream.js',
  'drivers/modbus/serial-binding.js',
];

const serial = rtuSlavesOnPty({
  dirPrefix: 'edge-lazy-serial-',
  baudrate: 19200,
  slaves: { 1: { holding: { values: { 0: [4242] } } } },
});

interface ChildOut {
  readonly packages: string[];
  readonly packagesBeforeReload?: string[];
  /** The ES modules of dist/src it loaded (relative to dist/src), before the reload and after it. */
  readonly modules: string[];
  readonly modulesAfterReload: string[];
}

async function runChild(args: { readonly dir: string } & Record<string, unknown>): Promise<ChildOut> {
  const { out, modules, modulesAfterReload } =
    await runLazyChild<Omit<ChildOut, 'modules' | 'modulesAfterReload'>>(args);
  return { ...out, modules, modulesAfterReload };
}

const tag = [{ name: 'v', function: 'holding', address: 0, type: 'u16' }];

function tcpDevice(port: number): Record<string, unknown> {
  return {
    name: 'meter',
    driver: 'modbus',
    connection: { transport: 'tcp', host: '127.0.0.1', port },
    unitId: 1,
    intervalMs: 1000,
    tags: tag,
  };
}

test('a station with Modbus TCP and DTU devices only loads neither modbus-serial nor serialport nor the serial transports', async (t) => {
  const dir = tempDir('edge-lazy-serial-');
  t.after(() => dir.remove());
  const out = await runChild({
    dir: dir.path,
    http: false,
    devices: [
      tcpDevice(await freePort()),
      {
        name: 'far',
        driver: 'modbus',
        connection: { transport: 'dtu', dtu: 'north' },
        unitId: 1,
        intervalMs: 1000,
        tags: tag,
      },
    ],
    dtu: {
      server: { host: '127.0.0.1', port: await freePort() },
      links: [{ name: 'north', mode: 'server', registration: { ascii: 'NORTH' } }],
    },
  });
  // the probes see loads: the TCP transport and the DTU hub (ES modules), better-sqlite3 (CommonJS)
  for (const m of ['drivers/modbus/tcp/transport.js', 'drivers/modbus/dtu/hub.js'])
    assert.ok(out.modules.includes(m), `${m} not seen: ${out.modules.length} modules`);
  assert.ok(out.packages.includes('better-sqlite3'), `CommonJS loads: ${out.packages.join(' ')}`);
  assert.deepEqual(
    out.packages.filter((p) => SERIAL_PACKAGE.test(p)),
    [],
  );
  assert.deepEqual(
    out.modules.filter((m) => SERIAL_MODULES.includes(m)),
    [],
  );
});

test('an RTU device added by a reload to a running TCP-only agent loads modbus-serial at its first connect and reads good', async (t) => {
  const dir = tempDir('edge-lazy-serial-');
  t.after(() => dir.remove());
  const out = await runChild({
    dir: dir.path,
    http: false,
    devices: [tcpDevice(await freePort())],
    reload: {
      good: 'rtu1',
      devices: [
        {
          name: 'rtu1',
          driver: 'modbus',
          connection: { transport: 'rtu', path: serial.pty.a, baudRate: 19200 },
          unitId: 1,
          intervalMs: 200,
          timeoutMs: 500,
          tags: tag,
        },
      ],
    },
  });
  assert.deepEqual(
    out.packagesBeforeReload?.filter((p) => SERIAL_PACKAGE.test(p)),
    [],
  );
  assert.deepEqual(
    out.modules.filter((m) => SERIAL_MODULES.includes(m)),
    [],
  );
  // the child waited for a poll of rtu1 with every value good
  for (const p of ['modbus-serial', 'serialport'])
    assert.ok(out.packages.includes(p), `${p} not loaded: ${out.packages.join(' ')}`);
  assert.ok(out.modulesAfterReload.includes('drivers/modbus/transport.js'));
  assert.ok(
    !out.modulesAfterReload.includes('drivers/modbus/serial-stream.js'),
    'without echoSuppression the line uses modbus-serial, not the agent framer',
  );
});
