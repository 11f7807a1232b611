/**
 * Prometheus counters stay monotonic, with nothing lost, across the live swaps a reload
 * makes. Before: a replaced DTU link, command router (and CIP-22 gateway, same path)
 * counted from zero again; /metrics took the drop for a reset and only added what the new
 * part counted beyond the old value, so a link that registered once before the swap and
 * once after showed 1 registration. A real DTU (raw TCP: registration and heartbeats) and a
 * refused (undated) command through mosquitto, a real reload, /metrics over HTTP.
 * The forwarder's published/connect/error totals (a broker swapped live) and the CIP-22
 * gateway's handshake and refusal counters (the gateway restarted live) reset to zero the
 * same way, in /status.json too: both now carry (src/agent-totals.ts).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { it } from 'node:test';
import { stringify } from 'yaml';
import { cip22Pki } from '../helpers/cip22-pki.js';
import { freePort } from '../helpers/net.js';
import { once, waitFor } from '../helpers/wait.js';
import { serverChainPem } from '../cip22/gateway-proc.js';
import { brokerAndDir, SiteWatcher, startInProcess, type InProcessAgent } from './peers.js';

const SITE = 'counters';
const { dir, broker } = brokerAndDir('edge-agent-counters-');

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

interface ForwarderView {
  readonly connected: boolean;
  readonly publishedRecords: number;
  readonly publishedMessages: number;
  readonly errorsByCode: Record<string, number>;
}

it('forwarder published and error totals carry over live broker swaps', { timeout: 120_000 }, async () => {
  const deadPort = await freePort(); // nothing listens there: the forwarder counts connect errors
  const file = join(dir.path, 'forwarder.yaml');
  const config = (url: string): string =>
    stringify({
      agent: { id: 'gw', site: SITE },
      store: { path: join(dir.path, 'forwarder.db') },
      http: { host: '127.0.0.1', port: 0 },
      mqtt: { url, allowInsecure: true },
      reload: { historyDir: join(dir.path, 'forwarder-history') },
    });
  writeFileSync(file, config(broker.url));
  let run: InProcessAgent | undefined;
  try {
    run = await startInProcess(file);
    const agent = run.agent;
    const forwarder = (): ForwarderView => agent.status().forwarder as ForwarderView;
    const metrics = async (): Promise<string> =>
      (await fetch(`http://${agent.httpAddress()!}/metrics`)).text();
    // /status.json only: /metrics is first scraped after the swap, so nothing but the carry can show these.
    const published = await waitFor('agent-started published', () => {
      const f = forwarder();
      return f.publishedRecords > 0 ? f : undefined;
    });

    writeFileSync(file, config(`mqtt://127.0.0.1:${deadPort}`));
    assert.equal((await run.reload.reloader.reloadFile()).status, 'applied');
    const code = 'EDGE_ERR_MQTT_CONNECT';
    const failed = await waitFor('connect errors on the dead broker', () => {
      const f = forwarder();
      return (f.errorsByCode[code] ?? 0) > 0 ? f : undefined;
    });
    assert.ok(
      failed.publishedRecords >= published.publishedRecords,
      'published before the swap still counted',
    );
    assert.ok(failed.publishedMessages >= published.publishedMessages);
    const text = await metrics();
    assert.ok(sample(text, 'edge_records_published_total') >= published.publishedRecords, text);

    writeFileSync(file, config(broker.url));
    assert.equal((await run.reload.reloader.reloadFile()).status, 'applied');
    const back = await waitFor('connected again', () => (forwarder().connected ? forwarder() : undefined));
    assert.ok((back.errorsByCode[code] ?? 0) >= (failed.errorsByCode[code] ?? 0), JSON.stringify(back));
    assert.ok(back.publishedRecords >= published.publishedRecords);
    const after = await metrics();
    assert.ok(
      sample(after, `edge_mqtt_errors_total{code="${code}"}`) >= (failed.errorsByCode[code] ?? 0),
      after,
    );
  } finally {
    await run?.stop();
  }
});

interface GatewayView {
  readonly handshakes: number;
  readonly counters: Record<string, number>;
}

/** A TLS 1.3 connection to the gateway (no AUTH follows): open until `gateway` shows `handshakes`. */
async function tlsHandshake(port: number, gateway: () => GatewayView, handshakes: number): Promise<void> {
  const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  socket.on('error', () => undefined);
  try {
    await once(socket, 'secureConnect');
    await waitFor(`${handshakes} handshakes`, () => gateway().handshakes === handshakes).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(gateway())}`);
    });
  } finally {
    socket.destroy();
  }
}

/** A TLS 1.2 client: the gateway refuses it at the TLS layer. */
function tls12(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, maxVersion: 'TLSv1.2', rejectUnauthorized: false });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
  });
}

it('CIP-22 session counters carry over a live gateway swap', { timeout: 120_000 }, async () => {
  const pki = cip22Pki();
  const port = await freePort();
  const file = join(dir.path, 'cip22.yaml');
  const config = (heartbeatMs: number): string =>
    stringify({
      agent: { id: 'gw', site: SITE },
      store: { path: join(dir.path, 'cip22.db') },
      mqtt: { url: broker.url, allowInsecure: true },
      reload: { historyDir: join(dir.path, 'cip22-history') },
      cip22: {
        enabled: true,
        host: '127.0.0.1',
        port,
        tls: { cert: serverChainPem(dir.path), key: { file: pki.p256.server.keyPem } },
        roots: [pki.p256.root.certPem],
        perIpHandshakesPerMinute: 100_000,
        heartbeatMs,
      },
    });
  writeFileSync(file, config(30_000));
  let run: InProcessAgent | undefined;
  try {
    run = await startInProcess(file);
    const agent = run.agent;
    const gateway = (): GatewayView => agent.status().cip22 as GatewayView;
    const tlsRefusals = (g: GatewayView): number =>
      Object.entries(g.counters)
        .filter(([reason]) => reason.startsWith('tls-'))
        .reduce((sum, [, n]) => sum + n, 0);
    await tlsHandshake(port, gateway, 1);
    await tls12(port);
    const before = await waitFor('the TLS 1.2 refusal counted', () => {
      const g = gateway();
      return tlsRefusals(g) === 1 ? g : undefined;
    });

    writeFileSync(file, config(20_000));
    const result = await run.reload.reloader.reloadFile();
    assert.equal(result.status, 'applied', JSON.stringify(result));
    assert.deepEqual(result.changes, ['cip22 changed (gateway restarts, piles reconnect)']);
    // Totals since the agent started: one handshake before the swap, one after.
    await tlsHandshake(port, gateway, 2);
    const swapped = gateway();
    assert.equal(tlsRefusals(swapped), tlsRefusals(before), JSON.stringify(swapped));
    for (const [reason, n] of Object.entries(before.counters))
      assert.ok((swapped.counters[reason] ?? 0) >= n, `${reason}: ${JSON.stringify(swapped)}`);
  } finally {
    await run?.stop();
  }
});
