/**
 * Echo suppression on a local RS-485 line, with real ptys. Two socat pty pairs and a
 * relay in between stand for an RS-485 adapter that echoes what it transmits:
 *
 *   driver ── agent-a │ agent-b ── relay ── bus-a │ bus-b ── pymodbus (slaves 1, 2)
 *
 * Bytes the driver writes (arriving at agent-b) are written back to agent-b (the echo)
 * and forwarded to bus-a; the slave's answers (arriving at bus-a) are forwarded to
 * agent-b. The driver thus receives request echo + response for every request.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialPort } from 'serialport';
import { systemClock } from '../../src/core/clock.js';
import { EdgeError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/ports.js';
import type { TagValue } from '../../src/core/types.js';
import { modbusDeviceSchema, type ModbusDeviceConfig } from '../../src/drivers/modbus/config.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import { SerialStreamTransport, type RtuConnection } from '../../src/drivers/modbus/serial-stream.js';
import { startPtyPair, startPymodbus, type Peer, type PtyPair } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';

const SLAVES = { 1: [111, 4242], 2: [222, 65535] } as const;

let dir: ReturnType<typeof tempDir> | undefined;
let agentPty: PtyPair | undefined;
let busPty: PtyPair | undefined;
let server: Peer | undefined;
let relay: Relay | undefined;

interface Relay {
  /** Bytes echoed back to the driver. */
  echoed: number;
  close(): Promise<void>;
}

async function openPort(path: string): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate: 19200, autoOpen: false });
  await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
  return port;
}

function closePort(port: SerialPort | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!port?.isOpen) return resolve();
    port.close(() => resolve());
  });
}

/** The echoing adapter: agent side `agentEnd`, bus side `busEnd`. */
async function startRelay(agentEnd: string, busEnd: string): Promise<Relay> {
  const agentSide = await openPort(agentEnd);
  let busSide: SerialPort | undefined;
  try {
    busSide = await openPort(busEnd);
  } catch (err) {
    await closePort(agentSide);
    throw err;
  }
  const bus = busSide;
  const r: Relay = {
    echoed: 0,
    close: async () => {
      await closePort(agentSide);
      await closePort(bus);
    },
  };
  agentSide.on('data', (d: Buffer) => {
    agentSide.write(d); // the echo
    r.echoed += d.length;
    bus.write(d);
  });
  bus.on('data', (d: Buffer) => agentSide.write(d));
  // a closing peer during cleanup must not crash the test run
  agentSide.on('error', () => undefined);
  bus.on('error', () => undefined);
  return r;
}

before(async () => {
  dir = tempDir('edge-modbus-echo-');
  agentPty = await startPtyPair(dir.path, 'agent');
  busPty = await startPtyPair(dir.path, 'bus');
  server = await startPymodbus({
    transport: 'rtu',
    path: busPty.b,
    baudrate: 19200,
    ignoreMissing: true,
    slaves: Object.fromEntries(
      Object.entries(SLAVES).map(([id, values]) => [id, { holding: { values: { 0: [...values] } } }]),
    ),
  });
  relay = await startRelay(agentPty.b, busPty.a);
});

after(async () => {
  await relay?.close().catch(() => undefined);
  await server?.stop().catch(() => undefined);
  await busPty?.stop().catch(() => undefined);
  await agentPty?.stop().catch(() => undefined);
  dir?.remove();
});

function config(unitId: number, echoSuppression: boolean): ModbusDeviceConfig {
  return modbusDeviceSchema.parse({
    name: `s${unitId}`,
    driver: 'modbus',
    connection: { transport: 'rtu', path: agentPty!.a, baudRate: 19200, echoSuppression },
    unitId,
    timeoutMs: 300,
    breaker: { failureThreshold: 100, cooldownMs: 60_000 },
    tags: [
      { name: 'a', function: 'holding', address: 0 },
      { name: 'b', function: 'holding', address: 1 },
    ],
  });
}

function rtuConnection(path: string): RtuConnection {
  const c = config(1, true).connection;
  assert.ok(c.transport === 'rtu');
  return { ...c, path };
}

function family() {
  return createModbusFamily({ clock: systemClock, logger: silentLogger, random: Math.random });
}

const byTag = (vs: readonly TagValue[]) =>
  Object.fromEntries(vs.map((v) => [v.tag, v.quality === 'good' ? v.value : v.code]));

/** The agent RTU framer's counters, as the line shows them under `transport`. */
interface FramerStatus {
  readonly framer: string;
  readonly echoes: number;
  readonly responses: number;
  readonly timeouts: number;
  readonly crcErrors: number;
}

test('echoSuppression true: exact values from two slaves through the echoing adapter; echoes counted', async (t) => {
  const fam = family();
  t.after(() => fam.close());
  const devs = [1, 2].map((unit) => fam.create(config(unit, true)));
  for (const d of devs) d.init();
  for (const d of devs) await d.start();
  assert.equal(fam.lines().size, 1);
  const echoedBefore = relay!.echoed;
  const polls = 5;
  for (let i = 0; i < polls; i++) {
    const [one, two] = await Promise.all(devs.map((d) => d.poll(['a', 'b'])));
    assert.deepEqual(byTag(one!), { a: SLAVES[1][0], b: SLAVES[1][1] }, `poll ${i}, slave 1`);
    assert.deepEqual(byTag(two!), { a: SLAVES[2][0], b: SLAVES[2][1] }, `poll ${i}, slave 2`);
  }
  assert.ok(relay!.echoed - echoedBefore >= 2 * polls * 8, 'the relay echoed every request');
  const line = devs[0]!.status().line;
  assert.equal(line.state, 'up');
  const transport = ('transport' in line ? line.transport : undefined) as FramerStatus | undefined;
  assert.equal(transport?.framer, 'agent-rtu');
  assert.ok((transport?.echoes ?? 0) > 0, `echoes ${transport?.echoes}`);
  // the fresh line fences each unit once before its first read (fence.ts)
  assert.equal(line.fences, 2, 'one fence read per unit on the fresh line');
  assert.equal(transport?.echoes, 2 * polls + line.fences, 'one echo dropped per request');
  assert.equal(transport?.responses, 2 * polls + line.fences);
  assert.equal(transport?.timeouts, 0);
  assert.equal(transport?.crcErrors, 0);
});

/**
 * Without suppression the line uses modbus-serial, which takes the echoed request (same
 * unit id and function code at the start of the buffer) for the response: it reads the
 * 8 echo bytes plus the first byte of the real answer as a 9-byte response, whose CRC
 * does not match. Every read is bad (EDGE_ERR_MODBUS_CRC / BAD_RESPONSE, or a timeout when
 * it never assembles a frame): proof that the relay really echoes.
 */
test('echoSuppression false on the same echoing adapter: no good reads', async (t) => {
  const fam = family();
  t.after(() => fam.close());
  const devs = [1, 2].map((unit) => fam.create(config(unit, false)));
  for (const d of devs) d.init();
  for (const d of devs) await d.start();
  const line = devs[0]!.status().line;
  assert.equal(
    'transport' in line ? line.transport : undefined,
    undefined,
    'modbus-serial transport, not the agent framer',
  );
  const echoedBefore = relay!.echoed;
  const codes = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const results = await Promise.all(devs.map((d) => d.poll(['a', 'b'])));
    for (const v of results.flat()) {
      assert.equal(
        v.quality,
        'bad',
        `poll ${i}: ${v.tag} = ${String(v.value)} should not read good through the echo`,
      );
      codes.add(String(v.code));
    }
  }
  assert.ok(relay!.echoed > echoedBefore, 'the relay echoed the requests');
  t.diagnostic(`codes without echo suppression: ${[...codes].join(', ')}`);
  for (const code of codes) {
    assert.ok(
      ['EDGE_ERR_MODBUS_CRC', 'EDGE_ERR_MODBUS_BAD_RESPONSE', 'EDGE_ERR_MODBUS_TIMEOUT'].includes(code),
      `unexpected code ${code}`,
    );
  }
});

test('SerialStreamTransport: a port that cannot be opened rejects with EDGE_ERR_MODBUS_CONNECT', async () => {
  const t = new SerialStreamTransport(rtuConnection(`${dir!.path}/no-such-port`), systemClock);
  await assert.rejects(
    t.connect(),
    (err: unknown) => err instanceof EdgeError && err.code === 'EDGE_ERR_MODBUS_CONNECT',
  );
  assert.equal(t.isOpen, false);
  await t.close(); // safe when never opened
});

test('SerialStreamTransport: losing the port reports onClose and fails reads as disconnected', async (t) => {
  const pair = await startPtyPair(dir!.path, 'lost');
  t.after(() => pair.stop());
  const transport = new SerialStreamTransport(rtuConnection(pair.a), systemClock);
  t.after(() => transport.close());
  const closed = new Promise<Error | undefined>((resolve) => transport.onClose(resolve));
  await transport.connect();
  assert.equal(transport.isOpen, true);
  // nobody answers on the other end; the outcome is taken at once (no unhandled rejection)
  const pending = transport.readHolding(1, 0, 1, 5000).then(
    () => 'answered',
    (err: unknown) => (err instanceof EdgeError ? err.code : String(err)),
  );
  await pair.stop(); // socat exits: the pty goes away under the open port
  await closed;
  assert.equal(transport.isOpen, false);
  assert.equal(await pending, 'EDGE_ERR_MODBUS_DISCONNECTED');
  await assert.rejects(
    transport.readHolding(1, 0, 1, 100),
    (err: unknown) => err instanceof EdgeError && err.code === 'EDGE_ERR_MODBUS_DISCONNECTED',
  );
});
