/**
 * The station page without a browser, its wall: config refuses a non-loopback listener
 * without a login; the login wall (bearer, form, rate limit, cookie flags, read-only); no
 * configured secret in anything the page or its stream sends; page weight. What the page
 * shows (model deltas, rings, views of the status) is in page-model.test.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Agent } from '../../src/agent.js';
import { validateConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { listSecretRefs } from '../../src/config-kit/secrets.js';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { loadAssets, pageWeightGzip } from '../../src/web/assets.js';
import { tempDir } from '../helpers/tmp.js';
import { openSse } from './sse-client.js';
import { postLogin, startWalled, type Walled } from './walled.js';

const base = { agent: { id: 'a', site: 's' }, store: { path: '/tmp/x.db' } };

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
    const status = JSON.parse(bodies[1] ?? '{}') as { ota?: { mode?: unknown; running?: unknown } };
    assert.equal(typeof status.ota?.running, 'string', "/status.json carries the agent's OTA part");
    assert.match(overview, /"ota":\{"state":"(running|unknown)/, 'the overview shows it');
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
