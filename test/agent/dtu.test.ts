/**
 * A DTU station through the real CLI: pymodbus RTU slaves on a socat pty, the DTU
 * simulator dialling the agent with heartbeats injected mid-frame and responses split
 * into chunks, mosquitto receiving the telemetry. The values must be exact. Once over TCP,
 * once over UDP (the responses then split across datagrams).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDtuSimulator, type DtuSimulator } from '../../src/tools/dtu-sim/simulator.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { rtuSlavesOnPty } from '../helpers/rtu-slaves.js';
import { waitFor } from '../helpers/wait.js';
import { spawnAgent, Watcher, writeConfig } from './harness.js';

const METER = [2301, 15, 0x4248, 0x0000]; // u16 voltage ×0.1, u16 current, f32 50.0
const BMS = [873, 0xfff6]; // soc ×0.1, temperature i16 = -10

describe('DTU station end to end (CLI, simulator, pymodbus, mosquitto)', { timeout: 120_000 }, () => {
  let broker: MosquittoBroker;
  let sim: DtuSimulator | undefined;

  before(async () => {
    broker = await startMosquitto();
  });

  after(async () => {
    await sim?.close();
    await broker?.close();
  });

  // Registered after the hooks above, so the simulator is closed before the pty goes away.
  const serial = rtuSlavesOnPty({
    dirPrefix: 'edge-agent-dtu-',
    baudrate: 9600,
    slaves: { 1: { holding: { values: { 0: METER } } }, 2: { input: { values: { 0: BMS } } } },
  });

  for (const transport of ['tcp', 'udp'] as const)
    it(`reads exact values through a faulty DTU link (${transport}) and forwards them`, async () => {
      const dtuPort = await freePort();
      const httpPort = await freePort();
      const configFile = writeConfig(serial.dir, {
        agent: { id: 'dtu-e2e', site: 'dtu-e2e' },
        store: { path: join(serial.dir, 'outbox.db') },
        mqtt: { url: broker.url, allowInsecure: true },
        http: { port: httpPort },
        log: { level: 'warn' },
        dtu: {
          [transport === 'udp' ? 'udpServer' : 'server']: { host: '127.0.0.1', port: dtuPort },
          links: [
            {
              name: 'dtu-a',
              mode: 'server',
              transport,
              registration: { ascii: 'DTU-0001' },
              heartbeat: { hex: 'FE' },
              heartbeatIntervalMs: 100,
            },
          ],
        },
        devices: [
          {
            name: 'meter',
            driver: 'modbus',
            connection: { transport: 'dtu', dtu: 'dtu-a' },
            unitId: 1,
            intervalMs: 200,
            timeoutMs: 500,
            tags: [
              { name: 'voltage', function: 'holding', address: 0, type: 'u16', scale: 0.1 },
              { name: 'current', function: 'holding', address: 1, type: 'u16' },
              { name: 'frequency', function: 'holding', address: 2, type: 'f32' },
            ],
          },
          {
            name: 'bms',
            driver: 'modbus',
            connection: { transport: 'dtu', dtu: 'dtu-a' },
            unitId: 2,
            intervalMs: 200,
            timeoutMs: 500,
            tags: [
              { name: 'soc', function: 'input', address: 0, type: 'u16', scale: 0.1 },
              { name: 'temperature', function: 'input', address: 1, type: 'i16' },
            ],
          },
        ],
      });
      const watcher = await Watcher.connect(broker.url, 'edge/dtu-e2e');
      const agent = spawnAgent(configFile);
      const values: Array<{ device: string; body: string }> = [];
      try {
        await waitFor(
          'DTU listener up',
          async () => {
            try {
              const status = (await (await fetch(`http://127.0.0.1:${httpPort}/status.json`)).json()) as {
                dtu: unknown;
              };
              return status.dtu !== null;
            } catch {
              return false;
            }
          },
          20_000,
        );
        sim = await startDtuSimulator({
          udp: transport === 'udp',
          agent: { host: '127.0.0.1', port: dtuPort },
          serial: { path: serial.pty.a, baudRate: 9600 },
          registration: 'ascii:DTU-0001',
          heartbeat: 'hex:FE',
          heartbeatIntervalMs: 50,
          faults: { heartbeatMidFrame: { every: 2 }, split: true },
          seed: 11,
        });
        // The values checked must have crossed the faulty link: the first good records could
        // come before any fault was injected (one answer, no heartbeat in it yet), and the
        // check that faults were injected failed on a busy host (on main too).
        const injected = (): Record<string, number> => sim!.stats().faults;
        await waitFor(
          'faults injected (a heartbeat mid-frame and a split answer)',
          () => (injected().heartbeatMidFrame ?? 0) > 0 && (injected().split ?? 0) > 0,
          30_000,
        );
        const since = watcher.records.length;
        await waitFor(
          'good telemetry from both devices after the faults',
          () => {
            const good = (device: string) =>
              watcher.records
                .slice(since)
                .some((r) => r.device === device && r.topic.endsWith('/telemetry') && r.good);
            return good('meter') && good('bms');
          },
          30_000,
        );
        for (const r of watcher.records.slice(since))
          if (r.good && r.raw) values.push({ device: r.device, body: r.raw });
        const meter = JSON.parse(values.find((v) => v.device === 'meter')!.body) as Record<
          string,
          { v: number; q: string }
        >;
        const bms = JSON.parse(values.find((v) => v.device === 'bms')!.body) as Record<
          string,
          { v: number; q: string }
        >;
        assert.deepEqual(
          { voltage: meter.voltage!.v, current: meter.current!.v, frequency: meter.frequency!.v },
          { voltage: 230.1, current: 15, frequency: 50 },
        );
        assert.deepEqual(
          { soc: bms.soc!.v, temperature: bms.temperature!.v },
          { soc: 87.3, temperature: -10 },
        );

        const status = (await (await fetch(`http://127.0.0.1:${httpPort}/status.json`)).json()) as {
          dtu: { links: Record<string, { up: boolean; heartbeats: number; transport?: string }> };
        };
        assert.equal(status.dtu.links['dtu-a']!.up, true);
        assert.equal(status.dtu.links['dtu-a']!.transport, transport === 'udp' ? 'udp' : undefined);
        assert.ok(status.dtu.links['dtu-a']!.heartbeats > 0, 'heartbeats recognised and counted');

        const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
        assert.match(metrics, /^edge_dtu_up\{dtu="dtu-a"\} 1$/m);
        assert.match(metrics, /^edge_dtu_heartbeats_total\{dtu="dtu-a"\} [1-9]\d*$/m);

        agent.child.kill('SIGTERM');
        assert.equal((await agent.exited).code, 0, agent.output());
      } finally {
        agent.child.kill('SIGKILL');
        await watcher.close();
        await sim?.close(); // the pty takes one simulator at a time
        sim = undefined;
      }
    });
});
