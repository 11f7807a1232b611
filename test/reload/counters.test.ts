/**
 * Prometheus counters stay monotonic, with nothing lost, across the live swaps a reload
 * makes. Before: a replaced DTU link, command router (and CIP-22 gateway, same path)
 * counted from zero again; /metrics took the drop for a reset and only added what the new
 * part counted beyond the old value, so a link that registered once before the swap and
 * once after showed 1 registration. A real DTU (raw TCP: registration and heartbeats) and a
 * refused (undated) command through mosquitto, a real reload, /metrics over HTTP.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { stringify } from 'yaml';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { once, waitFor } from '../helpers/wait.js';
import { SiteWatcher, startInProcess, type InProcessAgent } from './peers.js';

const SITE = 'counters';
const dir = tempDir('edge-agent-counters-');
let broker: MosquittoBroker;
before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  await broker?.close();
  dir.remove();
});

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

it('DTU link and command refusal counters carry over a live swap', { timeout: 120_000 }, async () => {
  const dtuPort = await freePort();
  const config = (missedHeartbeats: number, intervalMs: number): string =>
    stringify({
      agent: { id: 'gw', site: SITE },
      store: { path: join(dir.path, 'outbox.db') },
      http: { host: '127.0.0.1', port: 0 },
      mqtt: { url: broker.url, allowInsecure: true },
      reload: { historyDir: join(dir.path, 'history') },
      dtu: {
        server: { host: '127.0.0.1', port: dtuPort },
        links: [
          {
            name: 'a',
            mode: 'server',
            registration: { ascii: 'DTU-A' },
            heartbeat: { hex: 'FE' },
            heartbeatIntervalMs: 10_000,
            missedHeartbeats,
          },
        ],
      },
      devices: [
        {
          name: 'm',
          driver: 'modbus',
          connection: { transport: 'dtu', dtu: 'a' },
          unitId: 1,
          intervalMs,
          timeoutMs: 300,
          tags: [{ name: 'v', function: 'holding', address: 0, type: 'u16' }],
        },
      ],
    });
  const file = join(dir.path, 'config.yaml');
  writeFileSync(file, config(3, 1000));
  const watcher = await SiteWatcher.connect(broker.url, `edge/${SITE}`);
  let run: InProcessAgent | undefined;
  const sockets: Socket[] = [];
  try {
    run = await startInProcess(file);
    const agent = run.agent;
    const metrics = async (): Promise<string> =>
      (await fetch(`http://${agent.httpAddress()!}/metrics`)).text();
    const dtu = async (): Promise<Socket> => {
      const socket = connect(dtuPort, '127.0.0.1');
      sockets.push(socket);
      socket.on('error', () => undefined);
      socket.resume(); // read (and drop) what the agent sends: its FIN is seen
      await once(socket, 'connect');
      socket.write('DTU-A');
      return socket;
    };
    const registrations = 'edge_dtu_registrations_total{dtu="a"}';
    const heartbeats = 'edge_dtu_heartbeats_total{dtu="a"}';
    const undated = 'edge_commands_refused_total{source="device",reason="no-expiry"}';

    const first = await dtu();
    await waitFor('registered', async () => sample(await metrics(), registrations) === 1);
    first.write(Buffer.from([0xfe]));
    await waitFor('a heartbeat', async () => sample(await metrics(), heartbeats) === 1);
    // Undated (no ts, no MQTT 5 expiry): refused before it runs.
    await watcher.publish(`edge/${SITE}/m/cmd`, JSON.stringify({ id: 'c1', tag: 'v', value: 1 }));
    await waitFor('the undated command refused', async () => sample(await metrics(), undated) === 1);

    // The link (missedHeartbeats) and the device (interval) change: link and router are new.
    writeFileSync(file, config(4, 2000));
    const result = await run.reload.reloader.reloadFile();
    assert.equal(result.status, 'applied', JSON.stringify(result));
    assert.ok(result.changes?.includes('dtu links replaced: a'), JSON.stringify(result.changes));
    await waitFor("the old link's socket closed", () => first.destroyed);
    const second = await dtu();
    await waitFor('registered again', async () => sample(await metrics(), registrations) === 2);
    second.write(Buffer.from([0xfe]));
    await waitFor('a heartbeat on the new link', async () => sample(await metrics(), heartbeats) === 2);
    const text = await metrics();
    assert.equal(sample(text, undated), 1, 'the refusal before the swap is still counted');
    const modbus = agent.snapshot().drivers.modbus as { dtus: Record<string, { registrations: number }> };
    assert.equal(modbus.dtus.a?.registrations, 2, 'status shows totals since the agent started');
  } finally {
    for (const s of sockets) s.destroy();
    await run?.stop();
    await watcher.close();
  }
});
