/**
 * The agent in-process with a MemoryCommandChannel and real pymodbus servers: a command
 * writes through to the server and its result is published and kept in the outbox;
 * refused when not writable or not allowed; a duplicate id is not written twice. And a
 * device with failover switches when its primary server stops, the event in the outbox.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import modbusSerial from 'modbus-serial';
import { Agent } from '../../src/agent.js';
import { configSchema, type EdgeConfigInput } from '../../src/config/schema.js';
import { MemoryCommandChannel } from '../../src/core/command-channel.js';
import type { CommandResult } from '../../src/core/command-router.js';
import { silentLogger } from '../../src/core/ports.js';
import { freePort } from '../helpers/net.js';
import { startAll } from '../helpers/peers.js';
import { startPymodbus, type Peer, type PymodbusSpec } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const ModbusClient = modbusSerial.default;
const server = (port: number, values: Record<number, number[]> = { 0: [2301, 17] }): PymodbusSpec => ({
  transport: 'tcp',
  port,
  slaves: { 1: { holding: { values }, coil: {} } },
});

async function readBack(
  port: number,
  fn: (c: InstanceType<typeof ModbusClient>) => Promise<unknown>,
): Promise<unknown> {
  const client = new ModbusClient();
  await client.connectTCP('127.0.0.1', { port });
  client.setID(1);
  try {
    return await fn(client);
  } finally {
    await new Promise<void>((resolve) => client.close(() => resolve()));
  }
}

function events(dbPath: string, type: string): Array<{ device: string; data: Record<string, unknown> }> {
  const db = new Database(dbPath, { readonly: true });
  try {
    const rows = db.prepare('SELECT device, body FROM records ORDER BY rowid').all() as Array<{
      device: string;
      body: string;
    }>;
    return rows
      .map((r) => ({
        device: r.device,
        event: JSON.parse(r.body) as { type?: string; data?: Record<string, unknown> },
      }))
      .filter((r) => r.event.type === type)
      .map((r) => ({ device: r.device, data: r.event.data ?? {} }));
  } finally {
    db.close();
  }
}

describe('agent: commands and failover with real Modbus servers', { timeout: 90_000 }, () => {
  const dir = tempDir();
  const peers: Peer[] = [];
  let ports: { write: number; primary: number; secondary: number };

  before(async () => {
    ports = { write: await freePort(), primary: await freePort(), secondary: await freePort() };
    peers.push(
      ...(await startAll([
        startPymodbus(server(ports.write)),
        startPymodbus(server(ports.primary)),
        startPymodbus(server(ports.secondary)),
      ])),
    );
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    dir.remove();
  });

  it('writes a command through to the server once, publishes and stores the result; refuses what is not writable or allowed', async () => {
    const dbPath = join(dir.path, 'cmd.db');
    const tcp = { transport: 'tcp', host: '127.0.0.1', port: ports.write } as const;
    const input: EdgeConfigInput = {
      agent: { id: 't', site: 'site-1' },
      store: { path: dbPath },
      http: { enabled: false },
      devices: [
        {
          name: 'pump',
          driver: 'modbus',
          connection: tcp,
          commands: { allowWrites: true },
          tags: [
            { name: 'setpoint', function: 'holding', address: 10, type: 'i32', scale: 0.1, writable: true },
            { name: 'run', function: 'coil', address: 3, type: 'bool', writable: true },
            { name: 'voltage', function: 'holding', address: 0 },
          ],
        },
        {
          name: 'meter',
          driver: 'modbus',
          connection: tcp,
          tags: [{ name: 'x', function: 'holding', address: 20, writable: true }],
        },
      ],
    };
    const channel = new MemoryCommandChannel('edge/site-1');
    const agent = new Agent({
      config: configSchema.parse(input),
      logger: silentLogger,
      commandChannel: channel,
    });
    const results = (): CommandResult[] =>
      channel.published.map((p) => JSON.parse(p.payload.toString()) as CommandResult);
    const resultOf = (id: string, n = 1) =>
      waitFor(`result of ${id}`, () =>
        results().filter((r) => r.id === id).length >= n
          ? results()
              .filter((r) => r.id === id)
              .at(-1)
          : undefined,
      );
    try {
      await agent.start();
      await waitFor('pump online', () =>
        (agent.status().devices as Array<{ state: string }>).every((d) => d.state === 'online'),
      );

      channel.inject(
        'pump/cmd',
        JSON.stringify({ ts: Date.now(), id: 'w1', tag: 'setpoint', value: -1234.5 }),
      );
      assert.equal((await resultOf('w1')).status, 'done');
      assert.deepEqual(await readBack(ports.write, async (c) => (await c.readHoldingRegisters(10, 2)).data), [
        0xffff,
        0xffff - 12345 + 1,
      ]);

      channel.inject('pump/cmd', JSON.stringify({ ts: Date.now(), id: 'w2', tag: 'run', value: true }));
      assert.equal((await resultOf('w2')).status, 'done');
      assert.equal(await readBack(ports.write, async (c) => (await c.readCoils(3, 1)).data[0]), true);

      // a redelivered id is answered from memory: the server keeps the first value
      channel.inject('pump/cmd', JSON.stringify({ ts: Date.now(), id: 'w1', tag: 'setpoint', value: 5 }));
      assert.equal((await resultOf('w1', 2)).status, 'done');
      assert.deepEqual(await readBack(ports.write, async (c) => (await c.readHoldingRegisters(10, 2)).data), [
        0xffff,
        0xffff - 12345 + 1,
      ]);

      channel.inject('pump/cmd', JSON.stringify({ ts: Date.now(), id: 'w3', tag: 'voltage', value: 1 }));
      channel.inject('pump/cmd', JSON.stringify({ ts: Date.now(), id: 'w4', tag: 'setpoint', value: 1.25 }));
      channel.inject('meter/cmd', JSON.stringify({ ts: Date.now(), id: 'w5', tag: 'x', value: 1 }));
      const [w3, w4, w5] = [await resultOf('w3'), await resultOf('w4'), await resultOf('w5')];
      assert.deepEqual([w3.status, w3.code], ['rejected', 'EDGE_ERR_CMD_NOT_WRITABLE']);
      assert.deepEqual([w4.status, w4.code], ['rejected', 'EDGE_ERR_CMD_BAD_VALUE']);
      assert.deepEqual([w5.status, w5.code], ['rejected', 'EDGE_ERR_CMD_NOT_ALLOWED']);
      assert.equal(
        await readBack(ports.write, async (c) => (await c.readHoldingRegisters(20, 1)).data[0]),
        0,
      );
      assert.deepEqual(
        channel.published.map((p) => p.topic).filter((t, i, all) => all.indexOf(t) === i),
        ['edge/site-1/pump/cmd/result', 'edge/site-1/meter/cmd/result'],
      );
    } finally {
      await agent.stop();
    }
    const stored = events(dbPath, 'command-result');
    // one record per executed command (not per duplicate); devices are independent, so sorted
    assert.deepEqual(stored.map((e) => `${e.device}:${String(e.data.id)}:${String(e.data.status)}`).sort(), [
      'meter:w5:rejected',
      'pump:w1:done',
      'pump:w2:done',
      'pump:w3:rejected',
      'pump:w4:rejected',
    ]);
  });

  it('switches a device to its secondary server when the primary stops: status says so, values keep flowing, event in the outbox', async () => {
    const dbPath = join(dir.path, 'failover.db');
    const tags = [
      { name: 'voltage', function: 'holding', address: 0, scale: 0.1, intervalMs: 50 },
      { name: 'temp', function: 'holding', address: 1, intervalMs: 50 },
    ] as const;
    const input: EdgeConfigInput = {
      agent: { id: 't', site: 'site-1' },
      store: { path: dbPath },
      http: { enabled: false },
      devices: [
        {
          name: 'plc-1',
          driver: 'modbus',
          connection: { transport: 'tcp', host: '127.0.0.1', port: ports.primary },
          timeoutMs: 200,
          tags: [...tags],
          failover: {
            secondary: {
              driver: 'modbus',
              connection: { transport: 'tcp', host: '127.0.0.1', port: ports.secondary },
              tags: [...tags],
            },
            windowMs: 300,
            minSamples: 3,
            probeIntervalMs: 100,
          },
        },
      ],
    };
    const agent = new Agent({ config: configSchema.parse(input), logger: silentLogger });
    try {
      await agent.start();
      const device = () =>
        (agent.status().devices as Array<{ source: string; state: string; polls: number }>)[0];
      await waitFor(
        'online on the primary',
        () => device()!.state === 'online' && device()!.source === 'primary',
      );
      await peers[1]!.stop();
      await waitFor('failed over', () => device()!.source === 'secondary', 15_000);
      const polls = device()!.polls;
      await waitFor(
        'still polling, online',
        () => device()!.polls > polls + 3 && device()!.state === 'online',
      );
    } finally {
      await agent.stop();
    }
    const stored = events(dbPath, 'source-failover');
    assert.equal(stored.length, 1);
    assert.equal(stored[0]!.device, 'plc-1');
    assert.deepEqual([stored[0]!.data.from, stored[0]!.data.to], ['primary', 'secondary']);
    const db = new Database(dbPath, { readonly: true });
    try {
      const bodies = (
        db
          .prepare('SELECT body FROM records WHERE device = ? AND cls = 0 ORDER BY rowid')
          .all('plc-1') as Array<{ body: string }>
      ).map((r) => r.body);
      const fromSecondary = bodies.filter((b) => b.includes('"src":"secondary"'));
      assert.ok(fromSecondary.length > 0, 'telemetry marks values read from the secondary');
      assert.deepEqual(JSON.parse(fromSecondary.at(-1)!), {
        voltage: { v: 230.1, q: 'good', src: 'secondary' },
        temp: { v: 17, q: 'good', src: 'secondary' },
      });
    } finally {
      db.close();
    }
  });
});
