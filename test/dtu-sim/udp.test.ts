/**
 * The DTU simulator in UDP mode against real peers: a dgram socket in the test plays the
 * agent and records every datagram with its source, pymodbus answers RTU behind a socat
 * pty pair.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { rtuSlavesOnPty } from '../helpers/rtu-slaves.js';
import { waitFor } from '../helpers/wait.js';
import {
  startDtuSimulator,
  type DtuSimulator,
  type DtuSimulatorOptions,
} from '../../src/tools/dtu-sim/simulator.js';
import { ManualClock } from '../../src/core/clock.js';
import { parseDtuSimArgs } from '../../src/tools/dtu-sim/cli-args.js';
import { describeFaults } from '../../src/tools/dtu-sim/faults.js';
import { holdingResponse, readHolding } from './agent.js';

const REQUEST = readHolding(1, 0, 3);
const RESPONSE = holdingResponse(1, [1, 2, 3]);

const serial = rtuSlavesOnPty({
  dirPrefix: 'edge-dtu-sim-udp-',
  baudrate: 9600,
  slaves: { 1: { holding: { values: { 0: [1, 2, 3] } } } },
});

interface Datagram {
  data: Buffer;
  from: RemoteInfo;
}

/** A UDP agent and a dial-mode UDP simulator sending to it. */
async function rig(
  t: TestContext,
  over: Partial<DtuSimulatorOptions> = {},
): Promise<{ sim: DtuSimulator; agent: Socket; got: Datagram[]; ask: () => Promise<Datagram[]> }> {
  const agent = createSocket('udp4');
  const got: Datagram[] = [];
  agent.on('message', (data, from) => got.push({ data, from }));
  await new Promise<void>((r) => agent.bind(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => agent.close(() => r())));
  const sim = await startDtuSimulator({
    udp: true,
    agent: { host: '127.0.0.1', port: agent.address().port },
    serial: { path: serial.pty.a, baudRate: 9600 },
    registration: 'ascii:DTU-0001',
    heartbeatIntervalMs: 0,
    seed: 99,
    ...over,
  });
  t.after(() => sim.close());
  await waitFor('registration datagram', () => got.length >= 1);
  /** Sends the request to the simulator's current source and returns the datagrams that came back. */
  const ask = async (): Promise<Datagram[]> => {
    const last = got.at(-1)!.from;
    const mark = got.length;
    agent.send(REQUEST, last.port, last.address);
    await waitFor(
      'answer',
      () => Buffer.concat(got.slice(mark).map((d) => d.data)).length >= RESPONSE.length,
      3000,
      5,
    );
    return got.slice(mark);
  };
  return { sim, agent, got, ask };
}

test('udp: registration is the first datagram; a request gets its answer in one datagram', async (t) => {
  const { got, ask } = await rig(t);
  assert.deepEqual(got[0]!.data, Buffer.from('DTU-0001'));
  const answer = await ask();
  assert.equal(answer.length, 1);
  assert.deepEqual(answer[0]!.data, RESPONSE);
});

test('udp split: the answer comes in several datagrams that concatenate to it', async (t) => {
  const { sim, ask } = await rig(t, { faults: { split: true, splitMaxChunks: 3 } });
  const answer = await ask();
  assert.ok(answer.length >= 2, `${answer.length} datagrams`);
  assert.deepEqual(Buffer.concat(answer.map((d) => d.data)), RESPONSE);
  assert.equal(sim.stats().faults.split, 1);
});

test('udp duplicate and lose: the answer twice, then none', async (t) => {
  const { sim, agent, got, ask } = await rig(t, { faults: { duplicate: true, duplicateDelayMs: 5 } });
  await ask();
  await waitFor('the copy', () => got.filter((d) => d.data.equals(RESPONSE)).length === 2, 3000, 5);
  sim.setFaults({ lose: true });
  const before = sim.stats().framesFromSerial;
  const last = got.at(-1)!.from;
  const mark = got.length;
  agent.send(REQUEST, last.port, last.address);
  await waitFor('the answer read from the bus', () => sim.stats().framesFromSerial > before, 3000, 5);
  await waitFor('counted as lost', () => sim.stats().faults.lose === 1, 3000, 5);
  assert.equal(got.length, mark, 'nothing sent');
  assert.equal(sim.stats().faults.duplicate, 1);
});

test('udp redial: the next datagrams come from a new source port, registration first', async (t) => {
  const { sim, got, ask } = await rig(t, { heartbeat: 'ascii:HB', registrationWithHeartbeat: true });
  const first = got[0]!.from.port;
  await sim.redial();
  await waitFor('registration from the new port', () => got.find((d) => d.from.port !== first));
  const moved = got.find((d) => d.from.port !== first)!;
  assert.deepEqual(moved.data, Buffer.from('DTU-0001'));
  const answer = await ask();
  assert.equal(answer[0]!.from.port, moved.from.port);
  assert.deepEqual(answer[0]!.data, RESPONSE);
  assert.equal(sim.stats().connects, 2);
});

test('cli: --udp, --registration-with-heartbeat, --lose, --duplicate, --duplicate-delay-ms', () => {
  const o = parseDtuSimArgs(
    '--udp --agent 127.0.0.1:9000 --serial /dev/pts/3 --rebind-every-ms 5000 --registration-with-heartbeat --lose p:0.05 --duplicate every:3 --duplicate-delay-ms 7'.split(
      ' ',
    ),
  );
  assert.equal(o.udp, true);
  assert.equal(o.registrationWithHeartbeat, true);
  assert.equal(o.rebindEveryMs, 5000);
  assert.deepEqual(o.faults, { lose: { probability: 0.05 }, duplicate: { every: 3 }, duplicateDelayMs: 7 });
  assert.equal(describeFaults(o.faults), 'lose=p:0.05 duplicate=every:3 duplicateDelay=7ms');
  assert.equal(parseDtuSimArgs('--agent h:1 --serial x'.split(' ')).udp, undefined);
});

test('udp rebindEveryMs: the DTU moves to a new source port on schedule, registration first each time', async (t) => {
  const clock = new ManualClock();
  const { sim, got } = await rig(t, { clock, rebindEveryMs: 1000, reconnectDelayMs: 10 });
  for (let n = 2; n <= 3; n++) {
    await clock.advance(1000);
    await clock.advance(10);
    await waitFor(`source #${n}`, () => new Set(got.map((d) => d.from.port)).size === n);
  }
  const ports = [...new Set(got.map((d) => d.from.port))];
  for (const port of ports)
    assert.deepEqual(got.find((d) => d.from.port === port)!.data, Buffer.from('DTU-0001'));
  assert.equal(sim.stats().connects, 3);
});
