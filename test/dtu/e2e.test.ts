/**
 * DTU links over real sockets, end to end: pymodbus RTU slaves behind a socat pty pair,
 * the colleague's DTU simulator bridging the pty to a TCP socket (dial or listen mode,
 * with faults), our DtuHub and the Modbus family reading through it. The failure cases
 * that need exact bytes (unknown/duplicate registration, silence) play the DTU with raw
 * sockets.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { modbusDeviceSchema, type ModbusDeviceConfig } from '../../src/drivers/modbus/config.js';
import { dtuSchema, type DtuConfigInput } from '../../src/drivers/modbus/dtu/config.js';
import { DtuHub } from '../../src/drivers/modbus/dtu/hub.js';
import { createModbusFamily, type ModbusFamily } from '../../src/drivers/modbus/family.js';
import { startDtuSimulator, type DtuSimulator } from '../../src/tools/dtu-sim/simulator.js';
import { startPtyPair, startPymodbus, type Peer, type PtyPair } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { byTag, captureLogger, sleep } from './helpers.js';

const BAUD = 38400;
const SLAVE1 = [1111, 2222, 3333, 4444, 0x00fe, 0x4800];
const SLAVE2 = [7, 8, 9];
const EXPECT1 = { a: 1111, b: 2222, c: 3333, d: 4444, e: 0x00fe, f: 0x4800 };
const EXPECT2 = { x: 7, y: 8, z: 9 };

let dir: ReturnType<typeof tempDir> | undefined;
let pty: PtyPair | undefined;
let slaves: Peer | undefined;

before(async () => {
  dir = tempDir('edge-dtu-');
  pty = await startPtyPair(dir.path);
  slaves = await startPymodbus({
    transport: 'rtu',
    path: pty.b,
    baudrate: BAUD,
    ignoreMissing: true,
    slaves: { 1: { holding: { values: { 0: SLAVE1 } } }, 2: { input: { values: { 10: SLAVE2 } } } },
  });
});

after(async () => {
  await slaves?.stop();
  await pty?.stop();
  dir?.remove();
});

function devices(link: string, timeoutMs = 500): ModbusDeviceConfig[] {
  const base = {
    driver: 'modbus',
    connection: { transport: 'dtu', dtu: link },
    timeoutMs,
    breaker: { failureThreshold: 1000 },
  };
  return [
    modbusDeviceSchema.parse({
      ...base,
      name: `${link}-s1`,
      unitId: 1,
      tags: Object.keys(EXPECT1).map((name, i) => ({ name, function: 'holding', address: i })),
    }),
    modbusDeviceSchema.parse({
      ...base,
      name: `${link}-s2`,
      unitId: 2,
      tags: Object.keys(EXPECT2).map((name, i) => ({ name, function: 'input', address: 10 + i })),
    }),
  ];
}

async function startDevices(fam: ModbusFamily, link: string, timeoutMs = 500) {
  const [d1, d2] = devices(link, timeoutMs).map((c) => fam.create(c));
  d1!.init();
  d2!.init();
  await d1!.start();
  await d2!.start();
  return {
    d1,
    d2,
    poll1: async () => byTag(await d1!.poll(Object.keys(EXPECT1))),
    poll2: async () => byTag(await d2!.poll(Object.keys(EXPECT2))),
  };
}

const codes = (r: Record<string, unknown>): unknown[] => [...new Set(Object.values(r))];

describe('DTU server mode (the DTU dials the agent)', () => {
  const log = captureLogger();
  let hub: DtuHub;
  let fam: ModbusFamily;
  let port = 0;
  let sim: DtuSimulator | undefined;

  const config: DtuConfigInput = {
    server: { host: '127.0.0.1', port: 0, registrationTimeoutMs: 600 },
    links: [
      {
        name: 'north',
        mode: 'server',
        registration: { ascii: 'DTU-0001' },
        heartbeat: { ascii: 'HB' },
        heartbeatIntervalMs: 1000,
        missedHeartbeats: 3,
      },
      {
        name: 'dup',
        mode: 'server',
        registration: { hex: '4455502d31' },
        missedHeartbeats: 0,
        replaceLive: true,
      },
      {
        name: 'quiet',
        mode: 'server',
        registration: { regex: '^IMEI\\d{15}' },
        heartbeatIntervalMs: 100,
        missedHeartbeats: 3,
      },
      {
        name: 'ka',
        mode: 'server',
        registration: { ascii: 'KA-1' },
        missedHeartbeats: 0,
        keepalive: { unitId: 5, address: 7, intervalMs: 150, timeoutMs: 100 },
      },
    ],
  };

  before(async () => {
    hub = new DtuHub(dtuSchema.parse(config), { clock: systemClock, logger: log, random: Math.random });
    await hub.start();
    port = hub.address()!.port;
    fam = createModbusFamily({ clock: systemClock, logger: silentLogger, random: Math.random }, { dtu: hub });
  });

  after(async () => {
    await sim?.close();
    await fam.close();
    await hub.stop();
  });

  async function dial(faults = {}): Promise<DtuSimulator> {
    const s = await startDtuSimulator({
      agent: { host: '127.0.0.1', port },
      serial: { path: pty!.a, baudRate: BAUD },
      registration: 'ascii:DTU-0001',
      heartbeat: 'ascii:HB',
      heartbeatIntervalMs: 40,
      reconnectDelayMs: 700,
      faults,
      seed: 7,
    });
    await waitFor('north registered', () => hub.status().north!.up);
    return s;
  }

  // The request timeout is 60 s and this test's limit 20 s: a read that waited for the link or
  // its timeout instead of failing at once fails here by name, with no wall-clock figure.
  it('before registration, reads fail fast with EDGE_ERR_DTU_LINK_DOWN', { timeout: 20_000 }, async () => {
    const { poll1 } = await startDevices(fam, 'north', 60_000);
    assert.deepEqual(codes(await poll1()), ['EDGE_ERR_DTU_LINK_DOWN']);
  });

  it('registration accepted: exact values through heartbeats mid-frame, split, glued frames, garbage', async () => {
    sim = await dial({
      heartbeatMidFrame: { every: 2 },
      split: { every: 3 },
      glue: { every: 5 },
      garbage: { every: 4 },
      splitMaxChunks: 6,
    });
    const devs = await startDevices(fam, 'north');
    for (let i = 0; i < 30; i++) {
      assert.deepEqual(await devs.poll1(), EXPECT1, `poll ${i}`);
      assert.deepEqual(await devs.poll2(), EXPECT2, `poll ${i}`);
    }
    const s = hub.status().north;
    const f = sim.stats().faults;
    assert.ok(f.heartbeatMidFrame > 5 && f.split > 5 && f.glue > 3 && f.garbage > 5, JSON.stringify(f));
    assert.ok(s!.heartbeats >= f.heartbeatMidFrame, `heartbeats ${s!.heartbeats}`);
    assert.ok(s!.garbageBytes > 0);
    assert.equal(s!.timeouts, 0);
    assert.equal(s!.remoteAddress?.startsWith('127.0.0.1:'), true);
    assert.ok(s!.latency['1']!.count >= 30 && s!.latency['2']!.count >= 30);
    assert.ok(s!.lastHeartbeatAt !== undefined);
  });

  it('a response delayed past the timeout → EDGE_ERR_MODBUS_TIMEOUT for that poll, the next poll is correct', async () => {
    const devs = await startDevices(fam, 'north', 300);
    sim!.setFaults({ delayMs: 600, delayEvery: 1 });
    const forwarded = sim!.stats().framesForwarded;
    assert.deepEqual(codes(await devs.poll1()), ['EDGE_ERR_MODBUS_TIMEOUT']);
    sim!.setFaults({});
    // the late response reaches the agent while nothing (or another unit) is expected
    await waitFor(
      'the delayed response sent to the agent',
      () => sim!.stats().framesForwarded > forwarded,
      3000,
      5,
    );
    assert.deepEqual(await devs.poll2(), EXPECT2);
    assert.deepEqual(await devs.poll1(), EXPECT1);
    assert.ok(hub.status().north!.timeouts >= 1);
  });

  it('link dropped → bad with EDGE_ERR_DTU_LINK_DOWN; re-dialled and registered → good again', async () => {
    const devs = await startDevices(fam, 'north');
    const regs = hub.status().north!.registrations;
    sim!.setFaults({ dropEvery: 1 });
    assert.deepEqual(codes(await devs.poll1()), ['EDGE_ERR_DTU_LINK_DOWN']);
    sim!.setFaults({});
    await waitFor('link down', () => !hub.status().north!.up);
    assert.deepEqual(codes(await devs.poll2()), ['EDGE_ERR_DTU_LINK_DOWN']);
    await waitFor('re-registered', () => hub.status().north!.registrations > regs, 5000);
    assert.deepEqual(await devs.poll1(), EXPECT1);
    assert.deepEqual(await devs.poll2(), EXPECT2);
    assert.ok(hub.status().north!.disconnects >= 1);
  });

  it('unknown registration: closed, counted, bytes logged in hex', async () => {
    const before = hub.serverStatus().unknownRegistrations;
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    s.write(Buffer.from('BOGUS\x01\xfe', 'latin1'));
    await waitFor('closed', () => s.destroyed || s.readableEnded, 3000);
    assert.equal(hub.serverStatus().unknownRegistrations, before + 1);
    const line = log.lines.find((l) => l.obj.code === 'EDGE_ERR_DTU_UNKNOWN_REGISTRATION');
    assert.ok(line);
    assert.equal(line.obj.hex, '424f47555301fe');
    assert.equal(line.level, 'warn');
  });

  it('no registration in time: closed and counted', async () => {
    const before = hub.serverStatus().registrationTimeouts;
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    await waitFor('closed', () => s.destroyed || s.readableEnded, 3000);
    assert.equal(hub.serverStatus().registrationTimeouts, before + 1);
  });

  it('duplicate registration with replaceLive: the second connection replaces the first', async () => {
    const open = async (): Promise<Socket> => {
      const s = connect({ host: '127.0.0.1', port });
      s.on('error', () => undefined);
      await new Promise((r) => s.once('connect', r));
      s.write(Buffer.from('DUP-1'));
      return s;
    };
    const first = await open();
    await waitFor('dup up', () => hub.status().dup!.up);
    const second = await open();
    await waitFor('first closed', () => first.destroyed || first.readableEnded, 3000);
    const st = hub.status().dup;
    assert.equal(st!.replaced, 1);
    assert.equal(st!.up, true);
    assert.equal(st!.remoteAddress, `127.0.0.1:${second.localPort}`);
    second.destroy();
    await waitFor('dup down', () => !hub.status().dup!.up);
  });

  it('keepalive: an idle link gets a 1-register holding read', async () => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.write('KA-1');
    await waitFor('keepalive request', () => Buffer.concat(got).length >= 8, 3000);
    assert.deepEqual(Buffer.concat(got).subarray(0, 8), Buffer.from('050300070001344f', 'hex'));
    s.write(Buffer.from('050302002a', 'hex'));
    s.write(Buffer.from([0xc8, 0x5b])); // its CRC, in a second segment
    await waitFor('answered', () => hub.status().ka!.responses >= 1, 3000);
    assert.ok(hub.status().ka!.keepalives >= 1);
    assert.equal(hub.status().ka!.keepaliveFailures, 0);
    s.destroy();
  });

  it('silent link: closed after missed heartbeats; its devices go bad with EDGE_ERR_DTU_LINK_DOWN', async () => {
    const devs = await startDevices(fam, 'quiet', 100);
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    s.write(Buffer.from('IMEI860000000000001', 'latin1')); // regex: decided after the quiet time
    await waitFor('quiet up', () => hub.status().quiet!.up, 2000);
    const t0 = Date.now();
    await waitFor('closed', () => s.destroyed || s.readableEnded, 3000);
    assert.ok(Date.now() - t0 >= 200, 'closed before 3 × 100 ms of silence');
    const st = hub.status().quiet;
    assert.equal(st!.livenessCloses, 1);
    assert.equal(st!.up, false);
    assert.deepEqual(codes(await devs.poll1()), ['EDGE_ERR_DTU_LINK_DOWN']);
  });
});

describe('DTU hub limits', () => {
  it('maxLinks: connections beyond it are refused and counted', async (t) => {
    const hub = new DtuHub(
      dtuSchema.parse({
        server: { host: '127.0.0.1', port: 0, maxLinks: 1 },
        links: [{ name: 'a', mode: 'server', registration: { ascii: 'A' } }],
      }),
      { clock: systemClock, logger: silentLogger, random: Math.random },
    );
    await hub.start();
    t.after(() => hub.stop());
    const port = hub.address()!.port;
    const first = connect({ host: '127.0.0.1', port });
    first.on('error', () => undefined);
    first.write('A');
    await waitFor('a up', () => hub.status().a!.up);
    const second = connect({ host: '127.0.0.1', port });
    second.on('error', () => undefined);
    await waitFor('second closed', () => second.destroyed || second.readableEnded, 3000);
    assert.equal(hub.serverStatus().rejectedMaxLinks, 1);
    assert.equal(hub.status().a!.up, true);
    first.destroy();
  });

  it('stop() closes registered links and the listener', async () => {
    const hub = new DtuHub(
      dtuSchema.parse({
        server: { host: '127.0.0.1', port: 0 },
        links: [{ name: 'a', mode: 'server', registration: { ascii: 'A' } }],
      }),
      { clock: systemClock, logger: silentLogger, random: Math.random },
    );
    await hub.start();
    const s = connect({ host: '127.0.0.1', port: hub.address()!.port });
    s.on('error', () => undefined);
    s.write('A');
    await waitFor('a up', () => hub.status().a!.up);
    await hub.stop();
    await waitFor('closed', () => s.destroyed || s.readableEnded, 3000);
    assert.equal(hub.serverStatus().listening, false);
    assert.equal(hub.status().a!.up, false);
  });
});

describe('DTU client mode (the agent dials a DTU that listens)', () => {
  it('reads through the link; re-dials after the peer closes', async (t) => {
    const sim = await startDtuSimulator({
      listen: { host: '127.0.0.1', port: 0 },
      serial: { path: pty!.a, baudRate: BAUD },
      heartbeat: 'hex:FE',
      heartbeatIntervalMs: 100,
      faults: { split: { every: 2 }, heartbeatMidFrame: { every: 3 } },
      seed: 3,
    });
    t.after(() => sim.close());
    const hub = new DtuHub(
      dtuSchema.parse({
        links: [
          {
            name: 'south',
            mode: 'client',
            host: '127.0.0.1',
            port: sim.address()!.port,
            heartbeat: { hex: 'FE' },
            heartbeatIntervalMs: 100,
            reconnect: { initialMs: 100, maxMs: 400, jitter: 0.2 },
          },
        ],
      }),
      { clock: systemClock, logger: silentLogger, random: Math.random },
    );
    await hub.start();
    t.after(() => hub.stop());
    const fam = createModbusFamily(
      { clock: systemClock, logger: silentLogger, random: Math.random },
      { dtu: hub },
    );
    t.after(() => fam.close());
    const devs = await startDevices(fam, 'south');
    await waitFor('south connected', () => hub.status().south!.up);
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(await devs.poll1(), EXPECT1);
      assert.deepEqual(await devs.poll2(), EXPECT2);
    }
    await sim.redial(); // drops our connection
    await waitFor('south down', () => !hub.status().south!.up || hub.status().south!.registrations > 1);
    await waitFor(
      'south re-dialled',
      () => hub.status().south!.up && hub.status().south!.registrations >= 2,
      5000,
    );
    assert.deepEqual(await devs.poll1(), EXPECT1);
    assert.deepEqual(await devs.poll2(), EXPECT2);
    assert.ok(hub.status().south!.heartbeats > 0);
    // heartbeat-count-excludes-data-bytes: register e holds 0x00FE, the heartbeat byte; the
    // hub may miss heartbeats sent while the link was being re-dialled, never count more.
    assert.ok(
      hub.status().south!.heartbeats <= sim.stats().heartbeatsSent,
      `${hub.status().south!.heartbeats} counted > ${sim.stats().heartbeatsSent} sent`,
    );
  });

  it('stop() leaves no timers or sockets behind while a dial is failing', async () => {
    const hub = new DtuHub(
      dtuSchema.parse({
        links: [
          {
            name: 'gone',
            mode: 'client',
            host: '127.0.0.1',
            port: 1,
            reconnect: { initialMs: 50, maxMs: 100 },
          },
        ],
      }),
      { clock: systemClock, logger: silentLogger, random: () => 0.5 },
    );
    await hub.start();
    await waitFor('failures', () => hub.status().gone!.connectFailures >= 2, 3000);
    await hub.stop();
    const n = hub.status().gone!.connectFailures;
    await sleep(300);
    assert.equal(hub.status().gone!.connectFailures, n);
    assert.equal(hub.status().gone!.nextDialInMs, undefined);
  });
});
