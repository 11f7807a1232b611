/**
 * The station page without a browser: config refuses a non-loopback listener without a
 * login; the login wall (bearer, form, rate limit, cookie flags, read-only); no configured
 * secret in anything the page or its stream sends; page weight; deltas carry changes only.
 */
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as connectTcp, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Agent } from '../../src/agent.js';
import { validateConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { createSecretResolver, listSecretRefs } from '../../src/config/secrets.js';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { startStatusServer, type StatusServer } from '../../src/observability/http.js';
import { loadAssets, pageWeightGzip } from '../../src/web/assets.js';
import { PageAuth, sourceOf } from '../../src/web/auth.js';
import { EventHub } from '../../src/web/hub.js';
import { StationModel } from '../../src/web/model.js';
import { Ring } from '../../src/web/rings.js';
import { deviceViews, publicBrokerUrl, s7Views } from '../../src/web/views.js';
import { createStationPage, type StationPage } from '../../src/web/station.js';
import { tempDir } from '../helpers/tmp.js';
import { openSse } from './sse-client.js';

const base = { agent: { id: 'a', site: 's' }, store: { path: '/tmp/x.db' } };

interface Walled {
  readonly page: StationPage;
  readonly url: string;
  close(): Promise<void>;
}

/** A station page behind its login wall (bound "beyond loopback" as far as it knows), on loopback. */
async function startWalled(
  secrets: { token?: { env: string }; password?: string },
  clock: ManualClock,
  env: Record<string, string>,
  sessionTtlMs = 60_000,
): Promise<Walled> {
  const page = createStationPage({
    http: { host: '203.0.113.7', auth: { ...secrets, sessionTtlMs, maxAttemptsPerMinute: 3 } },
    secrets: createSecretResolver({ env, readFile: () => '' }),
    status: () => ({ agent: { id: 'a', site: 's', state: 'running', uptimeMs: 1 } }),
    version: 't',
    brokerUrl: undefined,
    clock,
    logger: silentLogger,
  });
  const server: StatusServer = await startStatusServer(
    { host: '127.0.0.1', port: 0, front: page.front },
    { metrics: async () => 'm 1\n', health: () => ({ ok: true, problems: [] }), status: () => ({ a: 1 }) },
    silentLogger,
  );
  return {
    page,
    url: `http://127.0.0.1:${server.port}`,
    close: async () => {
      page.close();
      await server.close();
    },
  };
}

function postLogin(url: string, secret: string): Promise<Response> {
  return fetch(`${url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ secret }).toString(),
  });
}

describe('http config', () => {
  it('refuses a non-loopback host without credentials, accepts it with a token or a password', () => {
    const refused = validateConfig({ ...base, http: { host: '0.0.0.0' } });
    assert.equal(refused.ok, false);
    assert.ok(!refused.ok && refused.issues.some((i) => i.path === 'http.auth'));
    assert.equal(
      validateConfig({ ...base, http: { host: '0.0.0.0', auth: { token: { env: 'T' } } } }).ok,
      true,
    );
    assert.equal(validateConfig({ ...base, http: { host: '10.0.0.2', auth: { password: 'pw' } } }).ok, true);
    assert.equal(validateConfig({ ...base, http: { host: '127.0.0.1' } }).ok, true);
    assert.equal(validateConfig({ ...base, http: { host: '::1' } }).ok, true);
  });

  it('check-config resolves the login secrets like every other secret reference', () => {
    const config = configSchema.parse({
      ...base,
      http: { host: '0.0.0.0', auth: { token: { env: 'T' }, password: { file: '/p' } } },
    });
    const fields = listSecretRefs(config).map((r) => r.field);
    assert.deepEqual(fields, ['http.auth.token', 'http.auth.password']);
  });
});

describe('login wall beyond loopback', () => {
  const TOKEN = 'tok-91c1d5c3a4e84f0b';
  const PASSWORD = 'pw-correct-horse-battery';
  let walled: Walled;
  let url = '';
  before(async () => {
    walled = await startWalled(
      { token: { env: 'EDGE_TEST_TOKEN' }, password: PASSWORD },
      new ManualClock(1_000_000),
      { EDGE_TEST_TOKEN: TOKEN },
    );
    url = walled.url;
  });
  after(() => walled.close());

  const login = (secret: string) => postLogin(url, secret);

  it('everything but /healthz and the login page needs a login; a bearer token opens it', async () => {
    for (const path of ['/status.json', '/metrics', '/events', '/assets/app.js', '/api/errors.json'])
      assert.equal((await fetch(`${url}${path}`)).status, 401, path);
    const root = await fetch(`${url}/`, { redirect: 'manual' });
    assert.equal(root.status, 303);
    assert.equal(root.headers.get('location'), '/login');
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    assert.equal((await fetch(`${url}/login`)).status, 200);
    const bearer = { Authorization: `Bearer ${TOKEN}` };
    assert.equal((await fetch(`${url}/status.json`, { headers: bearer })).status, 200);
    assert.equal((await fetch(`${url}/metrics`, { headers: bearer })).status, 200);
  });

  it('the password logs in with an HttpOnly SameSite=Strict cookie; the session is read-only', async () => {
    const res = await login(PASSWORD);
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/');
    const cookie = res.headers.get('set-cookie') ?? '';
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const session = cookie.split(';')[0] ?? '';
    assert.equal((await fetch(`${url}/`, { headers: { cookie: session } })).status, 200);
    assert.equal((await fetch(`${url}/status.json`, { headers: { cookie: session } })).status, 200);
    const post = await fetch(`${url}/`, { method: 'POST', headers: { cookie: session } });
    assert.equal(post.status, 405);
    const logout = await fetch(`${url}/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: session },
    });
    assert.equal(logout.status, 303);
    assert.equal((await fetch(`${url}/status.json`, { headers: { cookie: session } })).status, 401);
  });

  it('wrong secrets are limited per source: after the limit even the right one is refused (429)', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await login(`wrong-${i}`);
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/login?failed=1');
    }
    const limited = await login(PASSWORD);
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal(
      (await fetch(`${url}/status.json`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status,
      401,
    );
  });
});

describe('no secret reaches the page', () => {
  const dir = tempDir('edge-web-secrets-');
  const SECRETS = ['mqtt-user-pw-5d1e', 'mqtt-password-8a2f', 'page-token-c0ffee11'];
  let agent: Agent;
  after(async () => {
    await agent?.stop();
    dir.remove();
  });

  it('page, assets, stream, status and metrics carry none of the configured secret values', async () => {
    agent = new Agent({
      config: configSchema.parse({
        agent: { id: 'sec', site: 's' },
        store: { path: join(dir.path, 'outbox.db') },
        // Unreachable broker: the forwarder keeps retrying, its URL stays in the config.
        mqtt: { url: `mqtt://station:${SECRETS[0]}@127.0.0.1:1`, password: SECRETS[1], allowInsecure: true },
        http: { host: '127.0.0.1', port: 0, auth: { token: SECRETS[2] } },
        devices: [],
      }),
      logger: silentLogger,
    });
    await agent.start();
    const url = `http://${agent.httpAddress()}`;
    const sse = await openSse(`${url}/events`);
    const bodies: string[] = [];
    for (const path of [
      '/',
      '/status.json',
      '/metrics',
      '/api/errors.json',
      '/assets/app.js',
      '/assets/views.js',
    ])
      bodies.push(await (await fetch(`${url}${path}`)).text());
    const snapshot = await sse.next((m) => m.event === 'snapshot');
    sse.close();
    const overview = JSON.stringify(snapshot.data);
    assert.match(overview, /mqtt:\/\/127\.0\.0\.1:1/, 'the broker shows, without its user info');
    for (const text of [...bodies, sse.text()])
      for (const secret of SECRETS) assert.ok(!text.includes(secret), `${secret} sent`);
  });
});

describe('assets', () => {
  it('weigh under 150 KB gzipped and name no other origin', () => {
    const assets = loadAssets();
    const weight = pageWeightGzip(assets);
    process.stdout.write(`# station page weight: ${weight} bytes gzipped\n`);
    assert.ok(weight < 150 * 1024, `${weight} bytes`);
    for (const [path, asset] of assets) {
      // uPlot names the SVG namespace; the error texts are text, never fetched from.
      if (path === '/assets/uplot.js' || path === '/api/errors.json') continue;
      const text = gunzipSync(asset.gzip).toString('utf8');
      assert.ok(!/https?:\/\/|@import|url\(/.test(text), `${path} names another origin`);
    }
  });
});

describe('model deltas', () => {
  it('sends a section again only when it changed, tags only when read again, events once', () => {
    const clock = new ManualClock(1_000);
    let state = 'online';
    const model = new StationModel({
      status: () => ({ devices: [{ device: 'd1', driver: 'modbus', state, polls: 1 }] }),
      version: 't',
      brokerUrl: null,
      clock,
    });
    model.refresh();
    model.live = true;
    model.markAllSent();
    model.refresh();
    assert.equal(model.takeDelta()?.outbox !== null, true, 'the first outbox point');
    assert.equal(model.takeDelta(), undefined);
    model.reading({ device: 'd1', ts: 1_000, values: [{ tag: 'v', value: 1.5, quality: 'good' }] });
    const tags = model.takeDelta();
    assert.deepEqual(tags?.tags, { d1: { v: [1.5, 1_000] } });
    assert.deepEqual(tags?.set, {});
    model.refresh();
    assert.equal(model.takeDelta(), undefined, 'unchanged status: nothing to send');
    state = 'offline';
    model.refresh();
    const changed = model.takeDelta();
    assert.deepEqual(Object.keys(changed?.set ?? {}), ['device:d1']);
    model.record({
      device: 'agent',
      cls: 'event',
      ts: 2_000,
      body: '{"type":"x","severity":"info","data":{"code":"EDGE_ERR_X"}}',
    });
    assert.equal((model.takeDelta()?.events as unknown[]).length, 1);
    assert.equal(model.takeDelta(), undefined);
  });

  it('the overview shows OTA from the LED while an update runs, then its last event', () => {
    let led = 'online';
    const model = new StationModel({
      status: () => ({ led }),
      version: 't',
      brokerUrl: null,
      clock: new ManualClock(),
    });
    const ota = (): unknown => {
      model.refresh();
      return (model.snapshot().set as { overview: { ota: string } }).overview.ota;
    };
    assert.equal(ota(), 'no update since start');
    led = 'ota';
    assert.equal(ota(), 'update in progress');
    led = 'online';
    model.record({
      device: 'agent',
      cls: 'event',
      ts: 1,
      body: '{"type":"ota-rolled-back","severity":"error","data":{}}',
    });
    assert.equal(ota(), 'ota-rolled-back');
  });

  // Named case ring-history-keeps-counter-precision: the history rounded to 4 digits drew an
  // energy counter of 12 345.6 as 12 350, so every sparkline of a counter ended in a cliff.
  it("ring-history-keeps-counter-precision: a counter's history reads back as the value read", () => {
    const ring = new Ring(4, 0);
    ring.push(1, 12_345.6);
    ring.push(2, 50.03);
    assert.deepEqual(ring.toJSON()[1], [12_345.6, 50.03]);
  });

  it('a snapshot shares a budget of history points between all tags', () => {
    const model = new StationModel({
      status: () => ({}),
      version: 't',
      brokerUrl: null,
      clock: new ManualClock(),
    });
    const values = Array.from({ length: 5000 }, (_, i) => ({
      tag: `t${i}`,
      value: i,
      quality: 'good' as const,
    }));
    for (let k = 0; k < 120; k++) model.reading({ device: 'd', ts: k * 2000, values });
    const snapshot = model.snapshot() as { tags: { d: Record<string, { h: [number[], number[]] }> } };
    assert.equal(snapshot.tags.d.t7?.h[0].length, 12);
    assert.deepEqual(snapshot.tags.d.t7?.h[0].at(-1), 119 * 2000, 'the newest points');
    const small = new StationModel({
      status: () => ({}),
      version: 't',
      brokerUrl: null,
      clock: new ManualClock(),
    });
    for (let k = 0; k < 120; k++) small.reading({ device: 'd', ts: k * 2000, values: values.slice(0, 3) });
    const full = small.snapshot() as { tags: { d: Record<string, { h: [number[], number[]] }> } };
    assert.equal(full.tags.d.t1?.h[0].length, 120);
  });

  it('rings are bounded and keep their minimum spacing', () => {
    const ring = new Ring(4, 1_000);
    for (let t = 0; t < 20_000; t += 500) ring.push(t, t);
    const [ts, vs] = ring.toJSON();
    assert.equal(ts.length, 4);
    assert.deepEqual(ts, [16_000, 17_000, 18_000, 19_000]);
    assert.deepEqual(vs, [16_500, 17_500, 18_500, 19_500]);
  });
});

describe('views of the status document', () => {
  it('pick S7 connections, failover source and breaker by name; the broker URL loses its user info', () => {
    const status = {
      devices: [
        {
          device: 'plc-1',
          driver: 's7',
          state: 'online',
          link: {
            state: 'up',
            pduSize: 480,
            requestsPerCycle: 3,
            quarantined: [{ tag: 'DB1.X', plcCode: 5 }],
            lastError: null,
          },
        },
        {
          device: 'meter',
          driver: 'modbus',
          state: 'online',
          source: 'secondary',
          link: { active: 'secondary', link: { breaker: 'open' } },
        },
      ],
    };
    assert.deepEqual(s7Views(status), [
      {
        name: 'plc-1',
        state: 'up',
        pduSize: 480,
        requestsPerCycle: 3,
        quarantined: ['DB1.X'],
        lastError: null,
      },
    ]);
    const meter = deviceViews(status)[1];
    assert.equal(meter?.source, 'secondary');
    assert.equal(meter?.breaker, 'open');
    assert.equal(publicBrokerUrl('mqtts://user:secret@broker.example:8883'), 'mqtts://broker.example:8883');
    assert.equal(publicBrokerUrl('not a url'), null);
  });
});

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

describe('a page that never reads its stream', () => {
  it('is dropped once 1 MB waits for it: the agent does not buffer for it without end', async () => {
    const clock = new ManualClock(1_000_000);
    const blob = 'x'.repeat(256 * 1024);
    const busy = {
      live: false,
      refresh: () => undefined,
      markAllSent: () => undefined,
      snapshot: () => ({ t: clock.now() }),
      takeDelta: () => ({ blob }),
    } as unknown as StationModel;
    const hub = new EventHub(busy, { clock, logger: silentLogger });
    let most = 0;
    let stream: ServerResponse | undefined;
    const server = createServer((_req, res) => {
      stream = res;
      hub.connect(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const socket = connectTcp((server.address() as AddressInfo).port, '127.0.0.1');
    socket.pause();
    socket.on('error', () => undefined);
    socket.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    try {
      while (hub.size === 0) await clock.advance(0);
      // 400 flushes of 256 KB: 100 MB, far beyond what the socket buffers hold.
      for (let i = 0; i < 400 && hub.size > 0; i++) {
        await clock.advance(250);
        most = Math.max(most, stream?.writableLength ?? 0);
      }
      assert.equal(hub.size, 0, 'the page that does not read is dropped');
      assert.ok(most <= (1 << 20) + blob.length + 64, `${most} bytes were waiting`);
    } finally {
      socket.destroy();
      hub.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('live stream when nothing changes', () => {
  // Found by review: the keepalive was an SSE comment, which EventSource never hands to the
  // page, so a page whose stream had silently stopped (agent hung, link cut without a reset)
  // could not tell and kept showing its last values under a green "live".
  it('keepalive-is-an-event: a quiet stream still sends the page something it can see', async () => {
    const clock = new ManualClock(1_000_000);
    const quiet = {
      live: false,
      refresh: () => undefined,
      markAllSent: () => undefined,
      snapshot: () => ({ t: clock.now() }),
      takeDelta: () => undefined,
    } as unknown as StationModel;
    const hub = new EventHub(quiet, { clock, logger: silentLogger });
    const server = createServer((_req, res) => hub.connect(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const sse = await openSse(`http://127.0.0.1:${(server.address() as AddressInfo).port}/events`);
    try {
      await sse.next((m) => m.event === 'snapshot');
      await clock.advance(30_000);
      const ping = await sse.next((m) => m.event !== 'snapshot');
      assert.equal(ping.event, 'ping');
      assert.equal(typeof ping.data.t, 'number', 'the agent clock, for the page to age its values by');
    } finally {
      sse.close();
      hub.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('loopback without a login', () => {
  // Found by review: on loopback the page has no login, so any web site the engineer visits
  // could rebind its own name to 127.0.0.1 (DNS rebinding; also through an SSH tunnel to the
  // box) and read /status.json and the live stream as same-origin. Only a loopback Host passes.
  it('dns-rebinding-host-refused: a request naming another host is refused on loopback', async () => {
    const page = createStationPage({
      http: { host: '127.0.0.1' },
      secrets: createSecretResolver({ env: {}, readFile: () => '' }),
      status: () => ({}),
      version: 't',
      brokerUrl: undefined,
      clock: new ManualClock(1_000_000),
      logger: silentLogger,
    });
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
