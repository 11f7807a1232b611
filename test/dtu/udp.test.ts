/**
 * DTU links over UDP, end to end: pymodbus RTU slaves behind a socat pty pair, the DTU
 * simulator in UDP mode bridging the pty to datagrams (split, lost, duplicated, from a new
 * source port), our DtuHub and the Modbus family reading through it. Foreign sources are
 * played with raw dgram sockets.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { describe, it, type TestContext } from 'node:test';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import type { DtuConfigInput } from '../../src/drivers/modbus/dtu/config.js';
import type { DtuHub } from '../../src/drivers/modbus/dtu/hub.js';
import type { UdpDtuStatus } from '../../src/drivers/modbus/dtu/udp-link.js';
import type { ModbusFamily } from '../../src/drivers/modbus/family.js';
import {
  startDtuSimulator,
  type DtuSimulator,
  type DtuSimulatorOptions,
} from '../../src/tools/dtu-sim/simulator.js';
import { rtuSlavesOnPty } from '../helpers/rtu-slaves.js';
import { waitFor } from '../helpers/wait.js';
import { byTag, startHub } from './helpers.js';

const BAUD = 38400;
/** Two blocks of one slave with the same answer shape (unit 1, fc 3, 3 registers). */
const LOW = { a: 1111, b: 2222, c: 3333 };
const HIGH = { d: 4444, e: 5555, f: 6666 };
const SLAVE2 = { x: 7, y: 8, z: 9 };

const serial = rtuSlavesOnPty({
  dirPrefix: 'edge-dtu-udp-',
  baudrate: BAUD,
  slaves: {
    1: { holding: { values: { 0: [...Object.values(LOW), ...Object.values(HIGH)] } } },
    2: { input: { values: { 10: Object.values(SLAVE2) } } },
  },
});

interface Rig {
  hub: DtuHub;
  fam: ModbusFamily;
  low: () => Promise<Record<string, unknown>>;
  high: () => Promise<Record<string, unknown>>;
  s2: () => Promise<Record<string, unknown>>;
  st: () => UdpDtuStatus;
}

const codes = (r: Record<string, unknown>): unknown[] => [...new Set(Object.values(r))];

async function device(
  fam: ModbusFamily,
  link: string,
  name: string,
  unitId: number,
  fn: 'holding' | 'input',
  from: number,
  tags: Record<string, number>,
): Promise<() => Promise<Record<string, unknown>>> {
  const d = fam.create(
    modbusDeviceSchema.parse({
      name,
      driver: 'modbus',
      connection: { transport: 'dtu', dtu: link },
      unitId,
      // Generous: pymodbus on a loaded CI machine; expected timeouts cost it, nothing else does.
      timeoutMs: 1000,
      breaker: { failureThreshold: 1000 },
      tags: Object.keys(tags).map((tag, i) => ({ name: tag, function: fn, address: from + i })),
    }),
  );
  d.init();
  await d.start();
  return async () => byTag(await d.poll(Object.keys(tags)));
}

/** A hub with one UDP link, the Modbus family and three devices on it (two of the same answer shape). */
async function rig(t: TestContext, config: DtuConfigInput, link: string): Promise<Rig> {
  const { hub, fam } = await startHub(t, config);
  return {
    hub,
    fam,
    low: await device(fam, link, `${link}-low`, 1, 'holding', 0, LOW),
    high: await device(fam, link, `${link}-high`, 1, 'holding', 3, HIGH),
    s2: await device(fam, link, `${link}-s2`, 2, 'input', 10, SLAVE2),
    st: () => hub.status()[link] as UdpDtuStatus,
  };
}

const serverConfig = (over: Record<string, unknown> = {}): DtuConfigInput => ({
  udpServer: { host: '127.0.0.1', port: 0 },
  links: [
    {
      name: 'north',
      mode: 'server',
      transport: 'udp',
      registration: { ascii: 'DTU-0001' },
      heartbeat: { ascii: 'HB' },
      // Long against the simulator's 50 ms heartbeats: on a loaded machine this process's
      // event-loop lag must not make the link look silent (that changes codes and rebinding).
      heartbeatIntervalMs: 1000,
      missedHeartbeats: 5,
      // The default (100 ms): the simulator runs in this process, so its copies can be late by
      // this process's event-loop lag; the margin over their 5 ms delay absorbs a loaded machine.
      duplicateWindowMs: 100,
      ...over,
    },
  ],
});

async function dtu(
  t: TestContext,
  hub: DtuHub,
  over: Partial<DtuSimulatorOptions> = {},
): Promise<DtuSimulator> {
  const sim = await startDtuSimulator({
    udp: true,
    agent: { host: '127.0.0.1', port: hub.udpAddress()!.port },
    serial: { path: serial.pty.a, baudRate: BAUD },
    registration: 'ascii:DTU-0001',
    heartbeat: 'ascii:HB',
    heartbeatIntervalMs: 50,
    registrationWithHeartbeat: true,
    reconnectDelayMs: 50,
    seed: 11,
    ...over,
  });
  t.after(() => sim.close());
  await waitFor('north registered', () => hub.status().north!.up);
  return sim;
}

/** A raw UDP socket on loopback playing a foreign host; records what it receives. */
async function foreign(t: TestContext): Promise<{ sock: DgramSocket; got: Buffer[] }> {
  const sock = createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  let open = true;
  sock.once('close', () => (open = false));
  t.after(() => (open ? new Promise<void>((r) => sock.close(() => r())) : undefined));
  return { sock, got };
}

describe('DTU over UDP, server mode (the DTU sends to the agent)', () => {
  it('split-answer-reassembled: values correct through answers split across datagrams and heartbeats', async (t) => {
    const r = await rig(t, serverConfig(), 'north');
    const sim = await dtu(t, r.hub, { faults: { split: { every: 2 }, splitMaxChunks: 4 } });
    for (let i = 0; i < 15; i++) {
      assert.deepEqual(await r.low(), LOW, `poll ${i}`);
      assert.deepEqual(await r.high(), HIGH, `poll ${i}`);
      assert.deepEqual(await r.s2(), SLAVE2, `poll ${i}`);
    }
    const st = r.st();
    assert.ok(sim.stats().faults.split >= 20, JSON.stringify(sim.stats().faults));
    assert.equal(st.transport, 'udp');
    assert.equal(st.timeouts, 0);
    assert.equal(st.responses, 45 + 2, 'and one fence read per unit (1 and 2) on the fresh link');
    assert.ok(st.heartbeats > 0);
    assert.equal(st.remoteAddress?.startsWith('127.0.0.1:'), true);
    assert.ok(st.datagramsIn > 45 + 20, `datagrams ${st.datagramsIn}`);
    assert.equal(r.hub.serverStatus().udp?.listening, true);
  });

  it('lost-datagram-timeout-then-recovery: bad with EDGE_ERR_MODBUS_TIMEOUT, then good again', async (t) => {
    const r = await rig(t, serverConfig(), 'north');
    const sim = await dtu(t, r.hub);
    assert.deepEqual(await r.low(), LOW);
    sim.setFaults({ lose: true });
    assert.deepEqual(codes(await r.low()), ['EDGE_ERR_MODBUS_TIMEOUT']);
    assert.deepEqual(codes(await r.s2()), ['EDGE_ERR_MODBUS_TIMEOUT']);
    // a split response with one piece lost: the pieces that came never make a frame
    sim.setFaults({ split: true, splitMaxChunks: 2, lose: { probability: 0.5 } });
    for (let i = 0; i < 4; i++) {
      const v = await r.high();
      assert.ok(
        JSON.stringify(v) === JSON.stringify(HIGH) ||
          codes(v).every((c) => String(c).startsWith('EDGE_ERR_')),
        `never a wrong value: ${JSON.stringify(v)}`,
      );
    }
    sim.setFaults({});
    assert.deepEqual(await r.low(), LOW);
    assert.deepEqual(await r.high(), HIGH);
    assert.deepEqual(await r.s2(), SLAVE2);
    assert.ok(sim.stats().faults.lose >= 2);
    assert.ok(r.st().timeouts >= 2);
    assert.equal(r.st().up, true);
  });

  // Named case duplicate-answer-never-taken-for-next-request: each answer is sent twice, the
  // copy a few ms later. Without the duplicate window the copy of LOW's answer arrives while
  // HIGH's request (same unit, function and length) waits and is taken as its answer.
  it('duplicate-answer-never-taken-for-next-request', async (t) => {
    const r = await rig(t, serverConfig(), 'north');
    const sim = await dtu(t, r.hub, { faults: { duplicate: true, duplicateDelayMs: 5 } });
    for (let i = 0; i < 15; i++) {
      assert.deepEqual(await r.low(), LOW, `poll ${i}: low`);
      assert.deepEqual(await r.high(), HIGH, `poll ${i}: high`);
      // the same read twice in a row: an identical real answer is not a duplicate
      assert.deepEqual(await r.high(), HIGH, `poll ${i}: high again`);
    }
    const st = r.st();
    assert.ok(sim.stats().faults.duplicate >= 45);
    assert.ok(st.duplicates >= 40, `duplicates ${st.duplicates}`);
    assert.equal(st.timeouts, 0);
  });

  it('nat-rebinding-followed: the link follows the new source once the old one is silent', async (t) => {
    const r = await rig(t, serverConfig({ heartbeatIntervalMs: 100 }), 'north');
    const sim = await dtu(t, r.hub);
    assert.deepEqual(await r.low(), LOW);
    const before = r.st().remoteAddress;
    await sim.redial(); // new source port, registration sent from it at once
    await waitFor('rebound', () => r.st().rebinds === 1, 5000);
    assert.notEqual(r.st().remoteAddress, before);
    // at once the old source was still live: that first registration was refused
    assert.ok(r.st().takeoverRefused >= 1);
    assert.equal(r.st().registrations, 1, 'one link, moved, not re-registered');
    await waitFor('reads again', async () => JSON.stringify(await r.low()) === JSON.stringify(LOW), 15_000);
    assert.deepEqual(await r.high(), HIGH);
    assert.equal(r.st().up, true);
  });

  it('replaceLive: the link moves to the new source at once', async (t) => {
    const r = await rig(t, serverConfig({ replaceLive: true }), 'north');
    const sim = await dtu(t, r.hub, { registrationWithHeartbeat: false });
    await sim.redial();
    await waitFor('rebound', () => r.st().rebinds === 1, 5000);
    assert.equal(r.st().takeoverRefused, 0);
    assert.deepEqual(await r.low(), LOW);
  });

  it('foreign-datagrams-ignored: a wrong registration is dropped and counted; the right one cannot take a live link', async (t) => {
    const r = await rig(t, serverConfig(), 'north');
    await dtu(t, r.hub);
    const remote = r.st().remoteAddress;
    const f = await foreign(t);
    const port = r.hub.udpAddress()!.port;
    const unknown = r.hub.serverStatus().udp!.unknownRegistrations;
    f.sock.send(Buffer.from('BOGUS-42'), port, '127.0.0.1');
    f.sock.send(Buffer.from('010306045708ae0d05a2f6', 'hex'), port, '127.0.0.1'); // an answer-shaped datagram
    await waitFor('counted', () => r.hub.serverStatus().udp!.unknownRegistrations === unknown + 2, 3000);
    assert.equal(r.hub.serverStatus().unknownRegistrations, unknown + 2);
    f.sock.send(Buffer.from('DTU-0001'), port, '127.0.0.1');
    await waitFor('refused', () => r.st().takeoverRefused === 1, 3000);
    assert.equal(r.st().remoteAddress, remote);
    assert.equal(r.st().rebinds, 0);
    for (let i = 0; i < 5; i++) assert.deepEqual(await r.low(), LOW, JSON.stringify(r.st()));
    assert.equal(f.got.length, 0, 'the foreign source received no request');
  });

  it('the link goes down after missed heartbeats and comes back on the next registration', async (t) => {
    const r = await rig(t, serverConfig({ heartbeatIntervalMs: 100, missedHeartbeats: 2 }), 'north');
    const sim = await dtu(t, r.hub);
    sim.setFaults({ silent: true });
    await waitFor('down', () => !r.st().up, 3000);
    assert.equal(r.st().livenessCloses, 1);
    assert.deepEqual(codes(await r.low()), ['EDGE_ERR_DTU_LINK_DOWN']);
    sim.setFaults({});
    await waitFor('up again', () => r.st().up, 3000);
    assert.deepEqual(await r.low(), LOW);
  });
});

describe('DTU over UDP, client mode (the agent sends to the DTU)', () => {
  it('reads through a listening DTU, with duplicates and split answers', async (t) => {
    const sim = await startDtuSimulator({
      udp: true,
      listen: { host: '127.0.0.1', port: 0 },
      serial: { path: serial.pty.a, baudRate: BAUD },
      heartbeat: 'hex:FE',
      heartbeatIntervalMs: 100,
      faults: { split: { every: 2 }, duplicate: { every: 3 }, duplicateDelayMs: 5 },
      seed: 5,
    });
    t.after(() => sim.close());
    const r = await rig(
      t,
      {
        links: [
          {
            name: 'south',
            mode: 'client',
            transport: 'udp',
            host: '127.0.0.1',
            port: sim.address()!.port,
            heartbeat: { hex: 'FE' },
            heartbeatIntervalMs: 100,
            missedHeartbeats: 0,
            duplicateWindowMs: 100,
          },
        ],
      },
      'south',
    );
    await waitFor('south up', () => r.st().up);
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(await r.low(), LOW, `poll ${i}`);
      assert.deepEqual(await r.high(), HIGH, `poll ${i}`);
      assert.deepEqual(await r.s2(), SLAVE2, `poll ${i}`);
    }
    assert.equal(r.st().mode, 'client');
    assert.ok(r.st().duplicates >= 5, `duplicates ${r.st().duplicates}`);
    assert.ok(r.st().heartbeats > 0);
    assert.equal(r.st().timeouts, 0);
  });
});

describe('DTU over UDP, client mode towards a port where nothing listens', () => {
  it('the link is closed (ICMP unreachable) and re-opened with backoff; reads fail, never hang', async (t) => {
    const f = await foreign(t);
    const port = f.sock.address().port;
    await new Promise<void>((r) => f.sock.close(() => r())); // a port that was free a moment ago
    const { hub, fam } = await startHub(t, {
      links: [
        {
          name: 'gone',
          mode: 'client',
          transport: 'udp',
          host: '127.0.0.1',
          port,
          missedHeartbeats: 0,
          reconnect: { initialMs: 50, maxMs: 100 },
        },
      ],
    });
    const low = await device(fam, 'gone', 'gone-low', 1, 'holding', 0, LOW);
    await waitFor('gone open', () => hub.status().gone!.up);
    const v = await low();
    assert.ok(['EDGE_ERR_MODBUS_TIMEOUT', 'EDGE_ERR_DTU_LINK_DOWN'].includes(String(v.a)), JSON.stringify(v));
    await waitFor(
      'closed and re-opened',
      () => hub.status().gone!.disconnects >= 1 && hub.status().gone!.registrations >= 2,
      5000,
    );
  });
});
