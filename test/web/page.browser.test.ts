/**
 * The station page in Debian's chromium against the demo station (Modbus TCP devices, a
 * meter behind the DTU simulator, three piles of the pile simulator): live values, the bad
 * tag with its code, a pile's state change within a second, the login wall, no console
 * error, no request leaving the agent's origin. Screenshots of each view go to
 * test-artifacts/station-page/ (EDGE_README_SCREENSHOT=1 also writes the devices view to
 * docs/img/station-page.png; the committed one was taken after a minute of the demo).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { createSecretResolver } from '../../src/config-kit/secrets.js';
import { BAD_TAG, DTU_METER } from '../../src/demo/extras.js';
import { startDemoStation, type DemoStation } from '../../src/demo/run.js';
import { startStatusServer, type StatusServer } from '../../src/observability/http.js';
import { createStationPage, type StationPage } from '../../src/web/station.js';
import { artifactDir, chromiumSkip, launchChromium } from '../helpers/chromium.js';
import { tempDir } from '../helpers/tmp.js';
import { openSse } from './sse-client.js';

const skip = chromiumSkip();

interface Watched {
  readonly page: Page;
  readonly consoleErrors: string[];
  readonly foreign: string[];
}

async function watchedPage(browser: Browser, origin: string): Promise<Watched> {
  const page = await browser.newPage();
  const consoleErrors: string[] = [];
  const foreign: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    const url = req.url();
    if (url.startsWith(origin) || url.startsWith('data:')) void req.continue();
    else {
      foreign.push(url);
      void req.abort();
    }
  });
  return { page, consoleErrors, foreign };
}

// In-page code is given as text: this program is compiled without the DOM library.
const LIVE = `document.getElementById('live')?.textContent === 'live'`;
const cellText = (page: Page, selector: string): Promise<string> =>
  page.$eval(selector, (el) => (el as unknown as { textContent: string | null }).textContent ?? '');

describe('station page in chromium against the demo station', { skip }, () => {
  const dir = tempDir('edge-web-page-');
  let station: DemoStation;
  let browser: Browser;
  let origin = '';
  const shots = artifactDir('station-page');
  const watched: Watched[] = [];

  before(async () => {
    station = await startDemoStation({
      dataDir: dir.path,
      httpPort: 0,
      logger: () => silentLogger,
      err: () => undefined,
    });
    assert.ok(station.url);
    origin = station.url.replace(/\/$/, '');
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await station?.close();
    dir.remove();
  });

  const open = async (view: string): Promise<Page> => {
    const w = await watchedPage(browser, origin);
    watched.push(w);
    await w.page.goto(`${origin}/#${view}`, { waitUntil: 'domcontentloaded' });
    await w.page.waitForFunction(LIVE);
    return w.page;
  };

  it('device rows show live values that change, and the bad tag shows bad with its code', async () => {
    const page = await open('devices');
    const voltage = 'tr[data-device="meter-1"][data-tag="voltage"] td.v';
    await page.waitForSelector(voltage);
    const first = await cellText(page, voltage);
    assert.match(first, /^\d+\.\d+$/);
    await page.waitForFunction(
      `document.querySelector(${JSON.stringify(voltage)})?.textContent !== ${JSON.stringify(first)}`,
      { polling: 'mutation' },
    );
    const dtuRow = `tr[data-device="${DTU_METER.name}"][data-tag="voltage"] td.v`;
    await page.waitForSelector(dtuRow);
    assert.match(await cellText(page, dtuRow), /^\d+\.\d+$/);
    const bad = `tr.q-bad[data-device="${DTU_METER.name}"][data-tag="${BAD_TAG}"]`;
    await page.waitForSelector(bad);
    assert.equal(await cellText(page, `${bad} td.v`), 'BAD');
    assert.equal(await cellText(page, `${bad} td.code a`), 'EDGE_ERR_MODBUS_ILLEGAL_ADDRESS');
    // The code opens its docs/errors.md text.
    await page.click(`${bad} td.code a`);
    await page.waitForFunction(`document.getElementById('errdoc')?.hidden === false`);
    assert.match(await cellText(page, '#errdoc-summary'), /^(retry|fatal) — .+/);
    await page.click('#errdoc-close');
    await page.screenshot({ path: join(shots, 'devices.png'), fullPage: true });
    if (process.env.EDGE_README_SCREENSHOT === '1') {
      mkdirSync(join(process.cwd(), 'docs/img'), { recursive: true });
      copyFileSync(join(shots, 'devices.png'), join(process.cwd(), 'docs/img/station-page.png'));
    }
  });

  it('pile rows show live frames, and a state change reaches the page within a second', async () => {
    const page = await open('piles');
    await page.waitForSelector('tr[data-pile="PILE-01"] td.state');
    await page.waitForSelector('tr[data-pile="PILE-03"] td.state');
    await page.evaluate(`
      window.pileChanges = [];
      new MutationObserver(() => {
        for (const row of document.querySelectorAll('tr[data-pile]')) {
          const state = row.querySelector('td.state')?.textContent ?? '';
          if (row.getAttribute('data-last') === state) continue;
          row.setAttribute('data-last', state);
          window.pileChanges.push({ pile: row.getAttribute('data-pile'), state, at: Date.now() });
        }
      }).observe(document.getElementById('piles'), { subtree: true, childList: true, characterData: true });
    `);
    const since = Date.now();
    const sse = await openSse(`${origin}/events`);
    try {
      const message = await sse.next(
        (m) =>
          m.event === 'delta' &&
          (m.data.events as Array<{ type: string; ts: number }>).some(
            (e) => e.type === 'cip22-state' && e.ts > since,
          ),
      );
      const transition = (
        message.data.events as Array<{ type: string; ts: number; device: string; text: string }>
      ).find((e) => e.type === 'cip22-state' && e.ts > since)!;
      const to = /→ (\w+)/.exec(transition.text)?.[1];
      assert.ok(to, transition.text);
      const handle = await page.waitForFunction(
        `window.pileChanges.find((c) => c.pile === ${JSON.stringify(transition.device)} && c.state === ${JSON.stringify(to)})?.at`,
        { polling: 'mutation' },
      );
      const shownAt = (await handle.jsonValue()) as number;
      const latencyMs = shownAt - transition.ts;
      process.stdout.write(
        `# pile ${transition.device} → ${to}: on the page ${latencyMs} ms after the frame\n`,
      );
      assert.ok(latencyMs < 1000, `state change shown ${latencyMs} ms after the transition`);
    } finally {
      sse.close();
    }
    // Frames keep coming: the pile's last-frames cell changes.
    const framesCell = 'tr[data-pile="PILE-02"] td:nth-child(6)';
    const frames = await cellText(page, framesCell);
    assert.match(frames, /STATUS#\d+/);
    await page.waitForFunction(
      `!(document.querySelector(${JSON.stringify(framesCell)})?.textContent ?? '').includes(${JSON.stringify(frames.split(' ')[0])})`,
      { polling: 'mutation' },
    );
    await page.screenshot({ path: join(shots, 'piles.png'), fullPage: true });
  });

  it('every view renders; no console error; no request leaves the agent', async () => {
    const page = await open('overview');
    await page.waitForSelector('#chart-outbox canvas');
    await page.waitForFunction(
      `(document.querySelector('[data-card="devices"] .v')?.textContent ?? '').includes(' / ')`,
    );
    await page.screenshot({ path: join(shots, 'overview.png'), fullPage: true });
    await page.evaluate(`location.hash = '#links'`);
    await page.waitForSelector('tr[data-dtu="dtu-canopy"] td.state .good');
    await page.screenshot({ path: join(shots, 'links.png'), fullPage: true });
    await page.evaluate(`location.hash = '#events'`);
    await page.waitForSelector('#events tbody tr');
    await page.screenshot({ path: join(shots, 'events.png'), fullPage: true });
    for (const w of watched) {
      assert.deepEqual(w.consoleErrors, []);
      assert.deepEqual(w.foreign, []);
    }
  });

  describe('bound beyond loopback', () => {
    const TOKEN = 'tok-7f3a9c1e5b2d4860a1c3e5f7';
    let server: StatusServer;
    let page: StationPage;
    before(async () => {
      // The page believes it is bound beyond loopback; the test listener stays on 127.0.0.1.
      page = createStationPage({
        http: {
          host: '192.0.2.10',
          auth: { token: TOKEN, sessionTtlMs: 3_600_000, maxAttemptsPerMinute: 5 },
        },
        secrets: createSecretResolver(),
        status: () => station.agent.status(),
        version: 'test',
        brokerUrl: undefined,
        clock: systemClock,
        logger: silentLogger,
      });
      server = await startStatusServer(
        { host: '127.0.0.1', port: 0, front: page.front },
        {
          metrics: async () => '',
          health: () => ({ ok: true, problems: [] }),
          status: () => station.agent.status(),
        },
        silentLogger,
      );
    });
    after(async () => {
      page?.close();
      await server?.close();
    });

    it('shows the login wall, refuses a wrong secret, lets the token in', async () => {
      const base = `http://127.0.0.1:${server.port}`;
      const w = await watchedPage(browser, base);
      await w.page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
      assert.equal(new URL(w.page.url()).pathname, '/login');
      assert.equal((await fetch(`${base}/status.json`)).status, 401);
      assert.equal((await fetch(`${base}/events`)).status, 401);
      await w.page.screenshot({ path: join(shots, 'login.png') });
      await w.page.type('input[name=secret]', 'wrong-secret');
      await Promise.all([w.page.waitForNavigation(), w.page.click('button[type=submit]')]);
      assert.equal(new URL(w.page.url()).pathname, '/login');
      await w.page.type('input[name=secret]', TOKEN);
      await Promise.all([w.page.waitForNavigation(), w.page.click('button[type=submit]')]);
      assert.equal(new URL(w.page.url()).pathname, '/');
      await w.page.waitForFunction(LIVE);
      const html = await w.page.content();
      assert.ok(!html.includes(TOKEN));
      const cookieFlags = (await w.page.cookies()).find((c) => c.name === 'edge_session');
      assert.equal(cookieFlags?.httpOnly, true);
      assert.equal(cookieFlags?.sameSite, 'Strict');
      assert.deepEqual(
        w.consoleErrors.filter((e) => !/401|Unauthorized/.test(e)),
        [],
      );
      assert.deepEqual(w.foreign, []);
      await w.page.close();
    });
  });
});
