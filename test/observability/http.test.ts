import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { EdgeError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/ports.js';
import { startStatusServer, type StatusServer, type StatusSources } from '../../src/observability/http.js';

function sources(overrides: Partial<StatusSources> = {}): StatusSources {
  return {
    metrics: async () => '# HELP edge_outbox_rows x\n# TYPE edge_outbox_rows gauge\nedge_outbox_rows 3\n',
    health: () => ({ ok: true, problems: [] }),
    status: () => ({ agent: 'edge-agent', devices: [{ name: 'meter-1', online: true }] }),
    ...overrides,
  };
}

describe('status server', () => {
  const servers: StatusServer[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });
  const start = async (s = sources(), host?: string) => {
    const server = await startStatusServer({ host, port: 0 }, s, silentLogger);
    servers.push(server);
    return { server, base: `http://127.0.0.1:${server.port}` };
  };

  it('binds to 127.0.0.1 by default and serves /metrics as Prometheus text', async () => {
    const { server, base } = await start();
    assert.equal(server.host, '127.0.0.1');
    assert.ok(server.port > 0);
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(await res.text(), /^edge_outbox_rows 3$/m);
  });

  it('answers /healthz with 200 when healthy and 503 with the problems otherwise', async () => {
    let healthy = true;
    const { base } = await start(
      sources({
        health: () =>
          healthy
            ? { ok: true, problems: [] }
            : { ok: false, problems: ['outbox write failing', 'mqtt disconnected'] },
      }),
    );
    let res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true });
    healthy = false;
    res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), {
      ok: false,
      problems: ['outbox write failing', 'mqtt disconnected'],
    });
  });

  it('serves /status.json', async () => {
    const { base } = await start();
    const res = await fetch(`${base}/status.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await res.json(), { agent: 'edge-agent', devices: [{ name: 'meter-1', online: true }] });
  });

  it('answers 404 for unknown paths and 405 for other methods', async () => {
    const { base } = await start();
    assert.equal((await fetch(`${base}/`)).status, 404);
    assert.equal((await fetch(`${base}/metrics/extra`)).status, 404);
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    assert.equal((await fetch(`${base}/healthz`, { method: 'DELETE' })).status, 405);
    assert.equal((await fetch(`${base}/metrics?x=1`)).status, 200);
  });

  it('answers 500 when a source throws, and keeps serving', async () => {
    const { base } = await start(
      sources({
        metrics: async () => {
          throw new Error('boom');
        },
      }),
    );
    assert.equal((await fetch(`${base}/metrics`)).status, 500);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });

  it('fails with EDGE_ERR_HTTP_LISTEN when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      await assert.rejects(startStatusServer({ port }, sources(), silentLogger), (err: unknown) => {
        assert.ok(err instanceof EdgeError);
        assert.equal(err.code, 'EDGE_ERR_HTTP_LISTEN');
        return true;
      });
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });

  it('close() is idempotent', async () => {
    const server = await startStatusServer({ port: 0 }, sources(), silentLogger);
    await Promise.all([server.close(), server.close()]);
    await server.close();
  });

  // Found by review: the listener took every connection, so anyone reaching the port (beyond
  // loopback, before any login) could hold open sockets until the agent ran out of file
  // descriptors, and with them its Modbus, MQTT and store. Connections are now bounded.
  it('connection-flood-bounded: connections past maxConnections are dropped, not served', async () => {
    const server = await startStatusServer({ port: 0, maxConnections: 3 }, sources(), silentLogger);
    servers.push(server);
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const socket = connect(server.port, '127.0.0.1', () => resolve(socket));
        socket.on('error', reject);
      });
    const idle = [await open(), await open(), await open()];
    // Accepted in order: the three idle ones are counted before the fourth.
    const extra = await open();
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      extra.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      extra.on('error', () => undefined);
      extra.on('close', () => resolve(text));
      extra.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    });
    assert.equal(answer, '', 'a fourth connection is dropped unanswered');
    for (const socket of idle) socket.destroy();
  });
});
