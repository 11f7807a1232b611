/**
 * DTU server mode over real sockets, end to end: pymodbus RTU slaves behind a socat pty
 * pair, the colleague's DTU simulator dialling our DtuHub (with faults), the Modbus family
 * reading through it. The failure cases that need exact bytes (unknown/duplicate
 * registration, silence) play the DTU with raw sockets. Hub limits and client mode are in
 * e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { dtuSchema, type DtuConfigInput } from '../../src/drivers/modbus/dtu/config.js';
import { DtuHub } from '../../src/drivers/modbus/dtu/hub.js';
import { createModbusFamily, type ModbusFamily } from '../../src/drivers/modbus/family.js';
import { startDtuSimulator, type DtuSimulator } from '../../src/tools/dtu-sim/simulator.js';
import { waitFor } from '../helpers/wait.js';
import { BAUD, EXPECT1, EXPECT2, codes, serialSlaves, startDevices } from './e2e-rig.js';
import { captureLogger } from './helpers.js';

const serial = serialSlaves();

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
      serial: { path: serial.pty.a, baudRate: BAUD },
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
