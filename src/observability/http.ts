/**
 * The status listener: node:http, no framework, three read-only GET endpoints.
 *   GET /metrics      Prometheus text format 0.0.4
 *   GET /healthz      200 {"ok":true} | 503 {"ok":false,"problems":[…]}
 *   GET /status.json  the agent's status object
 * Binds to loopback unless configured otherwise. The station page (src/web/) plugs in as
 * `front`: its own routes, and the login wall in front of these when bound beyond loopback.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EdgeError } from '../core/errors.js';
import type { Logger } from '../core/ports.js';

const DEFAULT_HTTP_HOST = '127.0.0.1';
const DEFAULT_MAX_CONNECTIONS = 128;
const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface StatusServerOptions {
  /** Bind address; default 127.0.0.1. */
  readonly host?: string;
  /** TCP port; 0 picks a free one (tests). */
  readonly port: number;
  /**
   * Runs before the built-in endpoints (the station page, src/web/): it may answer the
   * request itself ('handled'), refuse it after answering ('denied'), or let it through.
   */
  /** Connections at once; more are dropped on accept (default 128). */
  readonly maxConnections?: number;
  readonly front?: (req: IncomingMessage, res: ServerResponse, path: string) => Promise<FrontVerdict>;
}

export type FrontVerdict = 'handled' | 'denied' | 'pass';

export interface HealthReport {
  readonly ok: boolean;
  readonly problems: readonly string[];
}

export interface StatusSources {
  metrics(): Promise<string>;
  health(): HealthReport;
  status(): object;
}

export interface StatusServer {
  /** The port actually bound. */
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

export async function startStatusServer(
  options: StatusServerOptions,
  sources: StatusSources,
  logger: Logger,
): Promise<StatusServer> {
  const host = options.host ?? DEFAULT_HTTP_HOST;
  const log = logger.child({ component: 'http' });

  const server = createServer((req, res) => {
    handle(req, res, sources, options.front).catch((err: unknown) => {
      log.error({ err, path: req.url }, 'status request failed');
      if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: 'internal error' }));
      else res.destroy();
    });
  });
  // Beyond loopback anyone can connect before any login: idle sockets must not be able to
  // take the file descriptors the agent's devices, broker and store need.
  server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new EdgeError(
          'EDGE_ERR_HTTP_LISTEN',
          `cannot listen on ${host}:${options.port}: ${err.code ?? err.message}`,
          {
            cause: err,
            context: { host, port: options.port },
          },
        ),
      );
    };
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'status listener error'));

  const port = (server.address() as AddressInfo).port;
  log.info({ host, port }, 'status endpoint listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    host,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  sources: StatusSources,
  front: StatusServerOptions['front'],
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (front && (await front(req, res, path)) !== 'pass') return;
  const known = path === '/metrics' || path === '/healthz' || path === '/status.json';
  if (!known) {
    send(res, 404, 'application/json', JSON.stringify({ error: 'not found' }));
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    send(res, 405, 'application/json', JSON.stringify({ error: 'method not allowed' }));
    return;
  }
  switch (path) {
    case '/metrics':
      send(res, 200, METRICS_CONTENT_TYPE, await sources.metrics());
      return;
    case '/healthz': {
      const health = sources.health();
      const body = health.ok ? { ok: true } : { ok: false, problems: health.problems };
      send(res, health.ok ? 200 : 503, 'application/json', JSON.stringify(body));
      return;
    }
    case '/status.json':
      send(res, 200, 'application/json', JSON.stringify(sources.status(), null, 2));
      return;
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
