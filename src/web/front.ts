/**
 * The station page in front of the status listener (http.ts `front`): the page, its
 * assets, the live stream (/events), and, when the listener is bound beyond loopback, the
 * login wall before all of them and before /status.json and /metrics. Everything is
 * read-only: the only requests that are not GET/HEAD are the login and the logout.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isLoopbackHost } from '../config/sections/observability.js';
import type { FrontVerdict } from '../observability/http.js';
import type { Asset } from './assets.js';
import type { PageAuth } from './auth.js';
import type { EventHub } from './hub.js';

export interface FrontParts {
  readonly assets: ReadonlyMap<string, Asset>;
  readonly hub: EventHub;
  /** Absent on loopback: no login there. */
  readonly auth: PageAuth | undefined;
}

const MAX_LOGIN_BODY = 4096;
const CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export function createFront(parts: FrontParts) {
  return async (req: IncomingMessage, res: ServerResponse, path: string): Promise<FrontVerdict> => {
    if (path === '/healthz') return 'pass';
    const auth = parts.auth;
    // No login on loopback rests on only this box reaching it; a web site that rebinds its
    // name to 127.0.0.1 reaches it too, from the engineer's browser: it names its own host.
    if (!auth && !loopbackName(req.headers.host)) return json(res, 421, { error: 'misdirected request' });
    if (path === '/login' || path === '/logout') {
      if (req.method === 'POST') {
        // A web site open in the engineer's browser may post here too: its wrong guesses
        // would count against the engineer's address and lock them out.
        if (crossSite(req)) return json(res, 403, { error: 'cross-site request' });
        if (!auth) return redirect(res, '/');
        return path === '/login' ? login(req, res, auth) : redirect(res, '/login', auth.logout(req));
      }
      if (path === '/login' && (req.method === 'GET' || req.method === 'HEAD'))
        return serve(req, res, parts.assets.get('/login'));
    }
    // The stylesheet is the login page's too; it holds nothing about the station.
    if (auth && path !== '/assets/style.css' && !auth.allowed(req)) {
      if (path === '/' && req.method === 'GET') return redirect(res, '/login');
      res.setHeader('WWW-Authenticate', 'Bearer realm="edge-agent"');
      return json(res, 401, { error: 'login required' });
    }
    const asset = parts.assets.get(path);
    if (!asset && path !== '/events') return 'pass';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return json(res, 405, { error: 'method not allowed' });
    }
    if (path === '/events') {
      if (req.method === 'HEAD') {
        res.writeHead(200, {
          'Content-Type': 'text/event-stream; charset=utf-8',
          'Cache-Control': 'no-store',
        });
        res.end();
      } else parts.hub.connect(res, auth?.stillAllowed(req));
      return 'handled';
    }
    return serve(req, res, asset);
  };
}

function headers(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
}

function serve(req: IncomingMessage, res: ServerResponse, asset: Asset | undefined): FrontVerdict {
  if (!asset) return 'pass';
  headers(res);
  res.setHeader('Content-Type', asset.type);
  res.setHeader('ETag', asset.etag);
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('Vary', 'Accept-Encoding');
  if (req.headers['if-none-match'] === asset.etag) {
    res.statusCode = 304;
    res.end();
    return 'handled';
  }
  const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const body = gzip ? asset.gzip : asset.body;
  if (gzip) res.setHeader('Content-Encoding', 'gzip');
  res.setHeader('Content-Length', body.length);
  res.statusCode = 200;
  res.end(req.method === 'HEAD' ? undefined : body);
  return 'handled';
}

function json(res: ServerResponse, status: number, body: object): FrontVerdict {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
  return status < 400 ? 'handled' : 'denied';
}

function redirect(res: ServerResponse, location: string, cookie?: string): FrontVerdict {
  if (cookie) res.setHeader('Set-Cookie', cookie);
  res.statusCode = 303;
  res.setHeader('Location', location);
  res.setHeader('Cache-Control', 'no-store');
  res.end();
  return 'handled';
}

async function login(req: IncomingMessage, res: ServerResponse, auth: PageAuth): Promise<FrontVerdict> {
  const body = await readBody(req);
  // The client went away mid-body: nothing to answer, and nothing wrong with the agent.
  if (body === null) return 'handled';
  if (body === undefined) return json(res, 413, { error: 'request too large' });
  const secret = new URLSearchParams(body).get('secret') ?? '';
  const outcome = auth.login(req, secret);
  if (outcome.ok) return redirect(res, '/', outcome.cookie);
  if (outcome.status === 429) {
    res.setHeader('Retry-After', String(outcome.retryAfterS ?? 60));
    return json(res, 429, { error: 'too many attempts' });
  }
  return redirect(res, '/login?failed=1');
}

/** The body; undefined when too large, null when the client aborted it. */
function readBody(req: IncomingMessage): Promise<string | undefined | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_LOGIN_BODY) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_LOGIN_BODY ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(null));
  });
}

/** A Host header naming this box by a loopback name (or none: only a browser always sends one). */
function loopbackName(host: string | undefined): boolean {
  if (host === undefined) return true;
  const name = /^\[([^\]]*)\]|^([^:]*)/.exec(host.toLowerCase());
  const bare = name?.[1] ?? name?.[2] ?? '';
  return isLoopbackHost(bare) || bare.endsWith('.localhost');
}

/**
 * A browser's request from a page of another origin. Sec-Fetch-Site says so plainly; Origin
 * is only a fallback: under this page's Referrer-Policy (no-referrer) a browser posts its
 * own form with `Origin: null`.
 */
function crossSite(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}
