/**
 * The login wall of the station page when the listener is bound beyond loopback: a token
 * (bearer header or login form) or a password (login form) from secret references,
 * compared in constant time, failed attempts limited per source address, sessions in a
 * bounded in-memory table behind an HttpOnly, SameSite=Strict cookie. Nothing here is
 * ever written to a response but the random session id.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIPv6 } from 'node:net';
import type { Clock } from '../core/clock.js';

export interface PageAuthOptions {
  readonly token?: string;
  readonly password?: string;
  readonly sessionTtlMs: number;
  readonly maxAttemptsPerMinute: number;
  readonly clock: Clock;
}

export type LoginOutcome =
  | { readonly ok: true; readonly cookie: string }
  | { readonly ok: false; readonly status: 401 | 429; readonly retryAfterS?: number };

export const SESSION_COOKIE = 'edge_session';
/** Bounds: a flood of logins or sources cannot grow memory without limit. */
const MAX_SESSIONS = 256;
const MAX_SOURCES = 1024;
const WINDOW_MS = 60_000;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Equal-length digests, so the compare takes the same time whatever the guess. */
function sameSecret(guess: string, secret: Buffer | undefined): boolean {
  if (!secret) return false;
  return timingSafeEqual(digest(guess), secret);
}

export class PageAuth {
  private readonly token: Buffer | undefined;
  private readonly password: Buffer | undefined;
  private readonly sessions = new Map<string, number>();
  private readonly failures = new Map<string, { windowStart: number; count: number }>();

  constructor(private readonly options: PageAuthOptions) {
    this.token = options.token ? digest(options.token) : undefined;
    this.password = options.password ? digest(options.password) : undefined;
  }

  /** A valid session cookie or bearer token. A wrong bearer counts as a failed attempt. */
  allowed(req: IncomingMessage): boolean {
    const session = sessionId(req.headers.cookie);
    if (session !== undefined) {
      const expires = this.sessions.get(session);
      if (expires !== undefined && expires > this.options.clock.now()) return true;
      if (expires !== undefined) this.sessions.delete(session);
    }
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (bearer === undefined) return false;
    const source = sourceOf(req);
    if (this.limited(source) !== undefined) return false;
    if (sameSecret(bearer, this.token)) return true;
    this.fail(source);
    return false;
  }

  /**
   * For a request allowed() let through: whether its login still holds. A live stream
   * asks this on every flush, so a logout or an expired session ends it instead of
   * streaming the station on for as long as the connection stays open.
   */
  stillAllowed(req: IncomingMessage): () => boolean {
    const session = sessionId(req.headers.cookie);
    if (session === undefined || !this.sessions.has(session)) return () => true;
    return () => {
      const expires = this.sessions.get(session);
      return expires !== undefined && expires > this.options.clock.now();
    };
  }

  /** The login form: the token or the password. */
  login(req: IncomingMessage, secret: string): LoginOutcome {
    const source = sourceOf(req);
    const retryAfterS = this.limited(source);
    if (retryAfterS !== undefined) return { ok: false, status: 429, retryAfterS };
    // Both compared, so the answer's timing does not tell which one is configured.
    const byToken = sameSecret(secret, this.token);
    const byPassword = sameSecret(secret, this.password);
    if (!byToken && !byPassword) {
      this.fail(source);
      return { ok: false, status: 401 };
    }
    const id = randomBytes(32).toString('base64url');
    if (this.sessions.size >= MAX_SESSIONS) this.dropOldest(this.sessions);
    this.sessions.set(id, this.options.clock.now() + this.options.sessionTtlMs);
    const maxAge = Math.floor(this.options.sessionTtlMs / 1000);
    return {
      ok: true,
      cookie: `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}`,
    };
  }

  logout(req: IncomingMessage): string {
    const session = sessionId(req.headers.cookie);
    if (session !== undefined) this.sessions.delete(session);
    return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
  }

  /** Seconds until the source may try again, or undefined when it may now. */
  private limited(source: string): number | undefined {
    const entry = this.failures.get(source);
    if (!entry) return undefined;
    const elapsed = this.options.clock.now() - entry.windowStart;
    if (elapsed >= WINDOW_MS) {
      this.failures.delete(source);
      return undefined;
    }
    if (entry.count < this.options.maxAttemptsPerMinute) return undefined;
    return Math.ceil((WINDOW_MS - elapsed) / 1000);
  }

  private fail(source: string): void {
    const now = this.options.clock.now();
    const entry = this.failures.get(source);
    if (entry && now - entry.windowStart < WINDOW_MS) {
      entry.count++;
      return;
    }
    if (!entry && this.failures.size >= MAX_SOURCES) this.dropOldest(this.failures);
    this.failures.set(source, { windowStart: now, count: 1 });
  }

  private dropOldest(map: Map<string, unknown>): void {
    const first = map.keys().next();
    if (!first.done) map.delete(first.value);
  }
}

/**
 * The source a limit counts against. An IPv6 host picks any address of its /64 at will
 * (SLAAC, privacy addresses), so counting per address gave it a fresh allowance per
 * address: the limit counts per /64. An IPv4-mapped address counts as the IPv4 one.
 */
export function sourceOf(req: Pick<IncomingMessage, 'socket'>): string {
  const address = (req.socket.remoteAddress ?? 'unknown').replace(/%.*$/, '').toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address)?.[1];
  if (mapped !== undefined) return mapped;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('::', 2);
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::')
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

function sessionId(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const [name, value] = part.trim().split('=', 2);
    if (name === SESSION_COOKIE && value) return value;
  }
  return undefined;
}
