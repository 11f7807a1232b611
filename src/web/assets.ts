/**
 * The page's files, read once at start into memory with their gzip form: the page's own
 * modules (compiled by tsc from src/web/client/), its HTML and CSS (pages.ts), uPlot from
 * node_modules (a production dependency, so it is in the bundle), the error texts. Nothing
 * is fetched from anywhere else: the page works on a station without internet.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { loadErrorsDoc } from './errors-doc.js';
import { INDEX_HTML, LOGIN_HTML, STYLE_CSS } from './pages.js';

export interface Asset {
  readonly type: string;
  readonly body: Buffer;
  readonly gzip: Buffer;
  readonly etag: string;
}

const CLIENT_DIR = new URL('./client/', import.meta.url);

function asset(type: string, content: string | Buffer): Asset {
  const body = typeof content === 'string' ? Buffer.from(content) : content;
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  return { type, body, gzip: gzipSync(body, { level: 9 }), etag };
}

/**
 * Path → asset. `/login` is the only page served without a login. A file that cannot be
 * read (an incomplete build) is named in `problems`: the agent runs without its page
 * rather than not at all.
 */
export function loadAssets(problems: string[] = []): Map<string, Asset> {
  const map = new Map<string, Asset>();
  const attempt = (what: string, load: () => void): void => {
    try {
      load();
    } catch (error) {
      problems.push(`${what}: ${(error as Error).message}`);
    }
  };
  map.set('/', asset('text/html; charset=utf-8', INDEX_HTML));
  map.set('/login', asset('text/html; charset=utf-8', LOGIN_HTML));
  map.set('/assets/style.css', asset('text/css; charset=utf-8', STYLE_CSS));
  attempt('uplot', () => {
    const dir = createRequire(import.meta.url)
      .resolve('uplot/package.json')
      .replace(/package\.json$/, 'dist/');
    map.set(
      '/assets/uplot.js',
      asset('text/javascript; charset=utf-8', readFileSync(`${dir}uPlot.iife.min.js`)),
    );
    map.set('/assets/uplot.css', asset('text/css; charset=utf-8', readFileSync(`${dir}uPlot.min.css`)));
  });
  attempt('page modules', () => {
    for (const file of readdirSync(CLIENT_DIR)) {
      if (!file.endsWith('.js')) continue;
      map.set(
        `/assets/${file}`,
        asset('text/javascript; charset=utf-8', readFileSync(new URL(file, CLIENT_DIR))),
      );
    }
  });
  map.set('/api/errors.json', asset('application/json', JSON.stringify(loadErrorsDoc())));
  return map;
}

/** The gzipped bytes a browser loads for the page (HTML, CSS, scripts; the error texts load on demand). */
export function pageWeightGzip(assets: ReadonlyMap<string, Asset>): number {
  let total = 0;
  for (const [path, a] of assets)
    if (path !== '/login' && path !== '/api/errors.json') total += a.gzip.length;
  return total;
}
