/**
 * Attacks on the station page found by review: what a logout or an expiry ends, what a
 * source of failed logins is, cross-site logins, DNS rebinding on loopback, a page that
 * never reads its stream, a stream that goes quiet.
 */
import assert from 'node:assert/strict';
import { createServer, request, ServerResponse, type IncomingMessage } from 'node:http';
import { connect as connectTcp, type AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createSecretResolver } from '../../src/config-kit/secrets.js';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { startStatusServer } from '../../src/observability/http.js';
import { PageAuth, sourceOf } from '../../src/web/auth.js';
import { EventHub } from '../../src/web/hub.js';
import type { StationModel } from '../../src/web/model.js';
import { createStationPage } from '../../src/web/station.js';
import { openSse } from './sse-client.js';
import { postLogin, startWalled, type Walled } from './walled.js';

describe('login wall: what a logout or an expiry ends, what a source is', () => {
  const PASSWORD = 'pw-review-7c1f';
  const TTL = 60_000;
  let clock: ManualClock;
  let walled: Walled;
  let url = '';
  before(async () => {
    clock = new ManualClock(1_000_000);
    walled = await startWalled({ password: PASSWORD }, clock, {}, TTL);
    url = walled.url;
  });
  after(() => walled.close());

  const session = async (): Promise<string> => {
    const res = await postLogin(url, PASSWORD);
    assert.equal(res.status, 303);
    return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  };

  // Found by review: the open stream was never checked again, so a logged-out (or stolen and
  // then logged-out) session kept receiving the whole station for as long as it stayed open.
  it('stream-ends-on-logout: a logout ends the live stream its session opened', async () => {
    const cookie = await session();
    const sse = await openSse(`${url}/events`, { cookie });
    await sse.next((m) => m.event === 'snapshot');
    const logout = await fetch(`${url}/logout`, { method: 'POST', redirect: 'manual', headers: { cookie } });
    assert.equal(logout.status, 303);
    await clock.advance(250);
    await sse.ended;
    assert.equal(walled.page.clients, 0);
  });

  it('stream-ends-when-session-expires: an expired session stops streaming', async () => {
    const cookie = await session();
    const sse = await openSse(`${url}/events`, { cookie });
    await sse.next((m) => m.event === 'snapshot');
    await clock.advance(TTL);
    await sse.ended;
    assert.equal(walled.page.clients, 0);
    assert.equal((await fetch(`${url}/events`, { headers: { cookie } })).status, 401);
  });

  // Found by review: any web site the engineer had open could post wrong logins from their
  // browser (a no-cors form post is allowed cross-site) and keep their address locked out.
  it('cross-site-login-refused: a login posted from another origin is refused and not counted', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${url}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Origin: 'http://attacker.example',
        },
        body: new URLSearchParams({ secret: `guess-${i}` }).toString(),
      });
      assert.equal(res.status, 403);
    }
    const framed = await fetch(`${url}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { Origin: 'null', 'Sec-Fetch-Site': 'cross-site' },
      body: 'secret=guess',
    });
    assert.equal(framed.status, 403, 'a sandboxed frame of another site');
    // The page's own form under Referrer-Policy no-referrer: Chrome sends Origin: null.
    const ownForm = await fetch(`${url}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { Origin: 'null', 'Sec-Fetch-Site': 'same-origin' },
      body: 'secret=guess',
    });
    assert.equal(ownForm.headers.get('location'), '/login?failed=1');
    const own = await fetch(`${url}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: url },
      body: new URLSearchParams({ secret: PASSWORD }).toString(),
    });
    assert.equal(own.status, 303, 'the engineer still logs in');
    assert.equal(own.headers.get('location'), '/');
  });

  // Found by review: failed logins counted per address, and an IPv6 host has a /64 of them.
  it('rate-limit-per-ipv6-64: addresses of one /64 share one allowance', () => {
    const auth = new PageAuth({
      password: PASSWORD,
      sessionTtlMs: TTL,
      maxAttemptsPerMinute: 3,
      clock: new ManualClock(0),
    });
    const from = (remoteAddress: string) =>
      ({ socket: { remoteAddress }, headers: {} }) as unknown as IncomingMessage;
    for (let i = 1; i <= 3; i++) assert.equal(auth.login(from(`2001:db8:1:2::${i}`), 'wrong').ok, false);
    const next = auth.login(from('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), PASSWORD);
    assert.equal(next.ok, false);
    assert.equal(!next.ok && next.status, 429);
    assert.equal(auth.login(from('2001:db8:1:3::1'), PASSWORD).ok, true, 'another /64 is another source');
    assert.equal(sourceOf(from('::ffff:192.0.2.1')), '192.0.2.1');
    assert.equal(sourceOf(from('2001:0db8:0001:0002::1')), sourceOf(from('2001:db8:1:2:ffff::')));
  });
});

/** The live stream alone, over a model whose every delta is `delta()`. */
async function hubOnly(clock: ManualClock, delta: () => object | undefined) {
  const model = {
    live: false,
    refresh: () => undefined,
    markAllSent: () => undefined,
    snapshot: () => ({ t: clock.now() }),
    takeDelta: delta,
  } as unknown as StationModel;
  const hub = new EventHub(model, { clock, logger: silentLogger });
  const streams: ServerResponse[] = [];
  const server = createServer((_req, res) => {
    streams.push(res);
    hub.connect(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    hub,
    streams,
    port: (server.address() as AddressInfo).port,
    close: async () => {
      hub.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('a page that never reads its stream', () => {
  it('is dropped once 1 MB waits for it: the agent does not buffer for it without end', async () => {
    const clock = new ManualClock(1_000_000);
    const blob = 'x'.repeat(256 * 1024);
    const { hub, port, close, streams } = await hubOnly(clock, () => ({ blob }));
    let most = 0;
    const socket = connectTcp(port, '127.0.0.1');
    socket.pause();
    socket.on('error', () => undefined);
    socket.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    try {
      while (hub.size === 0) await clock.advance(0);
      // 400 flushes of 256 KB: 100 MB, far beyond what the socket buffers hold.
      for (let i = 0; i < 400 && hub.size > 0; i++) {
        await clock.advance(250);
        most = Math.max(most, streams.at(-1)?.writableLength ?? 0);
      }
      assert.equal(hub.size, 0, 'the page that does not read is dropped');
      assert.ok(most <= (1 << 20) + blob.length + 64, `${most} bytes were waiting`);
    } finally {
      socket.destroy();
      await close();
    }
  });
});

describe('live stream when nothing changes', () => {
  // Found by review: the keepalive was an SSE comment, which EventSource never hands to the
  // page, so a page whose stream had silently stopped (agent hung, link cut without a reset)
  // could not tell and kept showing its last values under a green "live".
  it('keepalive-is-an-event: a quiet stream still sends the page something it can see', async () => {
    const clock = new ManualClock(1_000_000);
    const { port, close } = await hubOnly(clock, () => undefined);
    const sse = await openSse(`http://127.0.0.1:${port}/events`);
    try {
      await sse.next((m) => m.event === 'snapshot');
      await clock.advance(30_000);
      const ping = await sse.next((m) => m.event !== 'snapshot');
      assert.equal(ping.event, 'ping');
      assert.equal(typeof ping.data.t, 'number', 'the agent clock, for the page to age its values by');
    } finally {
      sse.close();
      await close();
    }
  });
});

describe('loopback without a login', () => {
  // Found by review: on loopback the page has no login, so any web site the engineer visits
  // could rebind its own name to 127.0.0.1 (DNS rebinding; also through an SSH tunnel to the
  // box) and read /status.json and the live stream as same-origin. Only a loopback Host passes.
  it('dns-rebinding-host-refused: a request naming another host is refused on loopback', async () => {
    const page = pageFor({ host: '127.0.0.1' });
    const server = await startStatusServer(
      { host: '127.0.0.1', port: 0, front: page.front },
      { metrics: async () => 'm 1\n', health: () => ({ ok: true, problems: [] }), status: () => ({ a: 1 }) },
      silentLogger,
    );
    const statusFor = (path: string, host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: server.port, path, headers: { Host: host } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
    try {
      for (const path of ['/', '/status.json', '/metrics', '/api/errors.json'])
        assert.equal(await statusFor(path, `rebind.example:${server.port}`), 421, path);
      for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `[::1]:${server.port}`])
        assert.equal(await statusFor('/status.json', host), 200, host);
      assert.equal(await statusFor('/healthz', 'rebind.example'), 200, 'a health probe needs no name');
    } finally {
      page.close();
      await server.close();
    }
  });
});

describe('a login whose client goes away', () => {
  // Found by review: a login request aborted mid-body rejected the handler, so the listener
  // logged "status request failed" at error level for each: anyone reaching the port could
  // fill the station's log with errors, before any login, as fast as they could connect.
  it('aborted-login-is-not-an-error: the handler ends quietly', async () => {
    const page = pageFor({
      host: '203.0.113.7',
      auth: { password: 'pw', sessionTtlMs: 60_000, maxAttemptsPerMinute: 3 },
    });
    try {
      const req = Object.assign(new PassThrough(), {
        method: 'POST',
        headers: { host: '203.0.113.7', 'content-length': '100' },
        socket: { remoteAddress: '192.0.2.9' },
      });
      const res = new ServerResponse(req as unknown as IncomingMessage);
      const verdict = page.front(req as unknown as IncomingMessage, res, '/login');
      req.write('secret=a');
      req.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
      assert.equal(await verdict, 'handled');
    } finally {
      page.close();
    }
  });
});

/** A station page on a manual clock with an empty status. */
function pageFor(
  http: Parameters<typeof createStationPage>[0]['http'],
): ReturnType<typeof createStationPage> {
  return createStationPage({
    http,
    secrets: createSecretResolver({ env: {}, readFile: () => '' }),
    status: () => ({}),
    version: 't',
    brokerUrl: undefined,
    clock: new ManualClock(1_000_000),
    logger: silentLogger,
  });
}
