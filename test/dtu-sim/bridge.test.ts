/**
 * The DTU simulator against real peers: a TCP server in the test plays the agent, pymodbus
 * answers RTU on the far end of a socat pty pair, the simulator bridges the two.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { rtuSlavesOnPty } from '../helpers/rtu-slaves.js';
import { waitFor } from '../helpers/wait.js';
import {
  startDtuSimulator,
  type DtuSimulator,
  type DtuSimulatorOptions,
} from '../../src/tools/dtu-sim/simulator.js';
import { FakeAgent, holdingResponse, readHolding, withCrc, type AgentConn } from './agent.js';

const REG = Buffer.from('DTU-0001');
const HB = Buffer.from('HB');
const VALUES = [1, 2, 3];
const REQUEST = readHolding(1, 0, 3);
const RESPONSE = holdingResponse(1, VALUES);

const serial = rtuSlavesOnPty({
  dirPrefix: 'edge-dtu-sim-',
  baudrate: 9600,
  slaves: { 1: { holding: { values: { 0: VALUES } } } },
});

/** A fake agent plus a dial-mode simulator, both closed when the test ends. */
async function rig(
  t: TestContext,
  over: Partial<DtuSimulatorOptions> = {},
): Promise<{ agent: FakeAgent; sim: DtuSimulator; conn: AgentConn }> {
  const agent = await FakeAgent.start();
  t.after(() => agent.close());
  const sim = await startDtuSimulator({
    agent: { host: '127.0.0.1', port: agent.port },
    serial: { path: serial.pty.a, baudRate: 9600 },
    registration: 'ascii:DTU-0001',
    heartbeat: 'ascii:HB',
    heartbeatIntervalMs: 0,
    reconnectDelayMs: 50,
    seed: 1234,
    ...over,
  });
  t.after(() => sim.close());
  const conn = await agent.conn(1);
  await waitFor('registration', () => conn.length >= REG.length);
  return { agent, sim, conn };
}

test('dial mode: registration first, then an RTU request gets the pymodbus response back', async (t) => {
  const { sim, conn } = await rig(t);
  assert.deepEqual(conn.chunks[0]!.data, REG); // registration is the first packet, alone
  const { bytes } = await conn.exchange(REQUEST, RESPONSE.length);
  assert.deepEqual(bytes, RESPONSE);
  // an exception answer passes through too (address outside the block)
  const exc = await conn.exchange(readHolding(1, 150, 1), 5);
  assert.deepEqual(exc.bytes, withCrc([1, 0x83, 0x02]));
  const s = sim.stats();
  assert.equal(s.connects, 1);
  assert.equal(s.registrationsSent, 1);
  assert.equal(s.framesForwarded, 2);
  assert.equal(s.framesFromSerial, 2);
  assert.equal(s.framesByGap, 0);
  assert.equal(s.bytesFromAgent, REQUEST.length * 2);
  assert.equal(s.bytesToSerial, REQUEST.length * 2);
  assert.equal(s.bytesToAgent, REG.length + RESPONSE.length + 5);
  assert.equal(s.connected, true);
});

test('heartbeats arrive at the configured interval', async (t) => {
  const clock = new ManualClock();
  const { sim, conn } = await rig(t, { heartbeat: 'hex:FE', heartbeatIntervalMs: 100, clock });
  for (let i = 1; i <= 5; i++) {
    await clock.advance(99);
    assert.equal(sim.stats().heartbeatsSent, i - 1, `no heartbeat ${i} before 100 ms`);
    await clock.advance(1);
    assert.equal(sim.stats().heartbeatsSent, i, `heartbeat ${i} at ${i * 100} ms`);
  }
  await waitFor('5 heartbeats', () => conn.length >= REG.length + 5, 3000, 5);
  const hbBytes = conn.bytes(REG.length);
  assert.deepEqual(hbBytes, Buffer.alloc(5, 0xfe), 'each heartbeat is one FE');
});

test('fault split: a response arrives in more than one TCP chunk and reassembles exactly', async (t) => {
  const { sim, conn } = await rig(t, { faults: { split: true, splitMaxChunks: 4 } });
  for (let i = 0; i < 3; i++) {
    const { bytes, chunks } = await conn.exchange(REQUEST, RESPONSE.length);
    assert.deepEqual(bytes, RESPONSE);
    assert.ok(chunks.length > 1, `response came in ${chunks.length} chunk(s)`);
  }
  assert.equal(sim.stats().faults.split, 3);
});

test('fault heartbeatMidFrame: the heartbeat bytes sit inside the response bytes', async (t) => {
  const { sim, conn } = await rig(t, { faults: { heartbeatMidFrame: true } });
  for (let i = 0; i < 3; i++) {
    const { bytes } = await conn.exchange(REQUEST, RESPONSE.length + HB.length);
    assert.equal(bytes.length, RESPONSE.length + HB.length);
    const at = bytes.indexOf(HB);
    assert.ok(at >= 1 && at <= RESPONSE.length - 1, `heartbeat at ${at} is strictly inside the frame`);
    assert.deepEqual(Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + HB.length)]), RESPONSE);
  }
  assert.equal(sim.stats().faults.heartbeatMidFrame, 3);
});

test('fault glue: a held response goes out in one write with the next heartbeat', async (t) => {
  const clock = new ManualClock();
  const { sim, conn } = await rig(t, { heartbeatIntervalMs: 400, faults: { glue: true }, clock });
  const mark = conn.length;
  const marks = conn.chunks.length;
  const sent = sim.stats().bytesToAgent;
  conn.sock.write(REQUEST);
  await waitFor('the response held', () => sim.stats().faults.glue === 1, 3000, 5);
  assert.equal(sim.stats().bytesToAgent, sent, 'the response is held, nothing sent yet');
  assert.equal(conn.length, mark);
  await clock.advance(400); // the next heartbeat
  await waitFor('glued response', () => conn.length >= mark + RESPONSE.length + HB.length, 2000, 5);
  const glued = conn.chunks.slice(marks);
  assert.equal(glued.length, 1, 'response and heartbeat in one chunk');
  assert.deepEqual(glued[0]!.data, Buffer.concat([RESPONSE, HB]));
  assert.equal(sim.stats().faults.glue, 1);
});

test('fault glue: a held response goes out glued to the next response', async (t) => {
  // A clock that stands still: the hold (glueMaxHoldMs) cannot end on its own.
  const { sim, conn } = await rig(t, { faults: { glue: { every: 2 } }, clock: new ManualClock() });
  const first = await conn.exchange(REQUEST, RESPONSE.length);
  assert.deepEqual(first.bytes, RESPONSE); // response #1 is not hit
  const mark = conn.length;
  const marks = conn.chunks.length;
  const sent = sim.stats().bytesToAgent;
  conn.sock.write(REQUEST); // response #2 is held
  await waitFor('response #2 held', () => sim.stats().faults.glue === 1, 3000, 5);
  assert.equal(sim.stats().bytesToAgent, sent, 'the response is held, nothing sent yet');
  assert.equal(conn.length, mark);
  const other = readHolding(1, 1, 2);
  conn.sock.write(other); // response #3 carries #2 along
  await waitFor('two glued responses', () => conn.length >= mark + RESPONSE.length * 2 - 2, 2000, 5);
  const chunks = conn.chunks.slice(marks);
  assert.equal(chunks.length, 1);
  assert.deepEqual(chunks[0]!.data, Buffer.concat([RESPONSE, holdingResponse(1, [2, 3])]));
  assert.equal(sim.stats().faults.glue, 1);
});

test('fault garbage: random bytes precede the response', async (t) => {
  const { sim, conn } = await rig(t, { faults: { garbage: true, garbageMinBytes: 3, garbageMaxBytes: 3 } });
  const { bytes } = await conn.exchange(REQUEST, RESPONSE.length + 3);
  assert.equal(bytes.length, RESPONSE.length + 3);
  assert.deepEqual(bytes.subarray(3), RESPONSE);
  assert.equal(sim.stats().faults.garbage, 1);
});

test('fault delay: every 2nd response is late by delayMs', async (t) => {
  const clock = new ManualClock();
  const { sim, conn } = await rig(t, { faults: { delayMs: 400, delayEvery: 2 }, clock });
  // The first answer comes through while the clock stands still: it is not delayed.
  const a = await conn.exchange(REQUEST, RESPONSE.length);
  assert.deepEqual(a.bytes, RESPONSE);
  const forwarded = sim.stats().framesForwarded;
  const b = conn.exchange(REQUEST, RESPONSE.length);
  await waitFor('the delay armed', () => clock.pendingCount === 1);
  await clock.advance(399);
  assert.equal(sim.stats().framesForwarded, forwarded, 'held for the whole 400 ms');
  await clock.advance(1);
  assert.deepEqual((await b).bytes, RESPONSE);
  assert.equal(sim.stats().faults.delay, 1);
});

test('fault dropEvery: the link closes instead of the 2nd response, then re-dials and re-registers', async (t) => {
  const { agent, sim, conn } = await rig(t, { faults: { dropEvery: 2 } });
  assert.deepEqual((await conn.exchange(REQUEST, RESPONSE.length)).bytes, RESPONSE);
  const mark = conn.length;
  conn.sock.write(REQUEST);
  await waitFor('link closed', () => conn.closed, 3000, 5);
  assert.equal(conn.length, mark, 'the dropped response was not sent');
  const second = await agent.conn(2);
  await waitFor('re-registration', () => second.length >= REG.length);
  assert.deepEqual(second.bytes(), REG);
  assert.deepEqual((await second.exchange(REQUEST, RESPONSE.length)).bytes, RESPONSE);
  const s = sim.stats();
  assert.equal(s.faults.drop, 1);
  assert.equal(s.connects, 2);
  assert.equal(s.registrationsSent, 2);
});

test('fault silent: nothing at all reaches the agent; turning it off resumes heartbeats and responses', async (t) => {
  const clock = new ManualClock();
  const { sim, conn } = await rig(t, { heartbeatIntervalMs: 80, clock });
  await clock.advance(80);
  await waitFor('a heartbeat', () => conn.length >= REG.length + HB.length, 2000, 5);
  sim.setFaults({ silent: true });
  const sent = sim.stats().bytesToAgent;
  await waitFor('every byte sent before the silence landed', () => conn.length === sent, 2000, 5);
  const mark = conn.length;
  const heartbeats = sim.stats().heartbeatsSent;
  conn.sock.write(REQUEST);
  await waitFor('the response swallowed', () => sim.stats().faults.silent === 1, 3000, 5);
  await clock.advance(400); // five heartbeat periods
  assert.equal(sim.stats().heartbeatsSent, heartbeats, 'silent: no heartbeats');
  assert.equal(sim.stats().bytesToAgent, sent, 'silent: nothing written');
  assert.equal(conn.length, mark, 'silent: no heartbeats, no response');
  assert.equal(sim.stats().faults.silent, 1);
  sim.setFaults({});
  await clock.advance(80);
  await waitFor('heartbeat after silence', () => conn.length >= mark + HB.length, 2000, 5);
  const { bytes } = await conn.exchange(REQUEST, RESPONSE.length);
  assert.ok(bytes.includes(RESPONSE), 'response after silence');
});

test('redial drops the link and re-sends the registration on the new one', async (t) => {
  const { agent, sim, conn } = await rig(t, { registration: 'ascii:864512345678901' });
  assert.deepEqual(conn.bytes(), Buffer.from('864512345678901'));
  await sim.redial();
  await waitFor('old link closed', () => conn.closed, 2000, 5);
  const second = await agent.conn(2);
  await waitFor('re-registration', () => second.length >= 15);
  assert.deepEqual(second.bytes(), Buffer.from('864512345678901'));
  assert.deepEqual((await second.exchange(REQUEST, RESPONSE.length)).bytes, RESPONSE);
  assert.equal(sim.stats().connects, 2);
  assert.equal(sim.stats().registrationsSent, 2);
});

test('dial mode keeps re-dialling until the agent is up, and after the agent closes the link', async (t) => {
  const agent = await FakeAgent.start();
  const port = agent.port;
  await agent.close(); // nobody listening yet
  let late: FakeAgent | undefined;
  t.after(async () => {
    await late?.close();
  });
  const sim = await startDtuSimulator({
    agent: { host: '127.0.0.1', port },
    serial: { path: serial.pty.a },
    reconnectDelayMs: 50,
    heartbeatIntervalMs: 0,
  });
  t.after(() => sim.close());
  await waitFor('failed dials', () => sim.stats().dialFailures >= 2, 3000, 5);
  const { createServer } = await import('node:net');
  // the agent comes up on the port the simulator keeps dialling
  const seen: Buffer[][] = [];
  const fixed = createServer((sock) => {
    const got: Buffer[] = [];
    const first = seen.push(got) === 1;
    sock.on('data', (d: Buffer) => {
      got.push(d);
      // the agent drops the first link once its registration is in
      if (first && Buffer.concat(got).length >= REG.length) sock.destroy();
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => fixed.listen(port, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => fixed.close(() => r())));
  await waitFor(
    'second connection',
    () => seen.length >= 2 && Buffer.concat(seen[1]!).length >= REG.length,
    3000,
    5,
  );
  assert.deepEqual(Buffer.concat(seen[0]!), REG);
  assert.deepEqual(Buffer.concat(seen[1]!), REG);
  assert.ok(sim.stats().connects >= 2);
  await sim.close();
});

test('listen mode: the agent dials the simulator; heartbeats and bridging work the same', async (t) => {
  const sim = await startDtuSimulator({
    listen: { port: 0, host: '127.0.0.1' },
    serial: { path: serial.pty.a },
    heartbeatIntervalMs: 100,
    heartbeat: 'hex:FE',
  });
  t.after(() => sim.close());
  const { connect } = await import('node:net');
  const dialAgent = async (): Promise<AgentConn> => {
    const sock = connect({ host: '127.0.0.1', port: sim.address()!.port });
    await new Promise<void>((r) => sock.once('connect', () => r()));
    return new (await import('./agent.js')).AgentConn(sock);
  };
  const conn = await dialAgent();
  t.after(() => conn.sock.destroy());
  await waitFor('a heartbeat', () => conn.length >= 1, 2000, 5);
  assert.deepEqual(
    conn.chunks[0]!.data,
    Buffer.from([0xfe]),
    'no registration by default; first packet is a heartbeat',
  );
  const { bytes } = await conn.exchange(REQUEST, RESPONSE.length);
  const stripped = Buffer.from(
    [...bytes].filter((b, i) => !(b === 0xfe && i < bytes.length - RESPONSE.length)),
  );
  assert.deepEqual(stripped.subarray(-RESPONSE.length), RESPONSE);
  // a second agent connection replaces the first
  const conn2 = await dialAgent();
  t.after(() => conn2.sock.destroy());
  await waitFor('first connection replaced', () => conn.closed, 2000, 5);
  const again = await conn2.exchange(REQUEST, RESPONSE.length);
  assert.ok(again.bytes.includes(RESPONSE));
  assert.equal(sim.stats().connects, 2);
});

test('CLI: dial mode with registration, heartbeat and a fault, stopped by closing stdin', async (t) => {
  const script = join(process.cwd(), 'dist/scripts/dtu-sim.js');
  assert.ok(existsSync(script), `${script} is built`);
  const agent = await FakeAgent.start();
  const child = spawn(
    process.execPath,
    [
      script,
      '--agent',
      `127.0.0.1:${agent.port}`,
      '--registration',
      'ascii:DTU-0042',
      '--heartbeat',
      'hex:FE',
      '--heartbeat-interval-ms',
      '100',
      '--serial',
      serial.pty.a,
      '--baud',
      '9600',
      '--garbage',
      'always',
      '--garbage-bytes',
      '2',
      '--seed',
      '7',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await agent.close();
  });
  const conn = await agent.conn(1);
  await waitFor('registration', () => conn.length >= 8);
  assert.deepEqual(conn.bytes().subarray(0, 8), Buffer.from('DTU-0042'));
  await waitFor('a heartbeat', () => conn.bytes().subarray(8).includes(0xfe), 3000, 5);
  const mark = conn.length;
  conn.sock.write(REQUEST);
  await waitFor('response', () => conn.bytes(mark).includes(RESPONSE), 3000, 5);
  child.stdin.end();
  assert.equal(await exited, 0);
  assert.match(err, /seed 7/);
  assert.match(err, /"garbage":1/);
});
