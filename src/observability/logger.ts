/**
 * The agent's structured logger: pino, JSON lines on stdout by default. Secrets are
 * never meant to reach a log call; redaction here is defence in depth:
 *  - values under secret-looking keys (password, key, passphrase, token, secret, …),
 *    at the top level and up to three levels deep, in log objects and child bindings,
 *    are replaced by "[Redacted]";
 *  - credentials embedded in URLs (scheme://user:pass@host) are masked in any string
 *    of a log object, in url-like binding keys and in the message.
 */
import {
  pino,
  type DestinationStream,
  type Level,
  type LevelWithSilent,
  type Logger as PinoLogger,
} from 'pino';
import type { Logger } from '../core/ports.js';

export type LogLevel = LevelWithSilent;

const REDACTED = '[Redacted]';

const SECRET_KEYS = [
  'password',
  'passwd',
  'passphrase',
  'key',
  'privateKey',
  'token',
  'accessToken',
  'refreshToken',
  'secret',
  'clientSecret',
  'authorization',
  'cookie',
];
/** Keys whose string values may carry credentials in a URL. */
const URL_KEYS = ['url', 'uri', 'href', 'brokerUrl'];

function nested(keys: readonly string[]): string[] {
  return keys.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]);
}

const REDACT_PATHS: readonly string[] = [...nested(SECRET_KEYS), ...nested(URL_KEYS)];

const URL_KEY_SET = new Set(URL_KEYS);
/** scheme://user:password@ or scheme://token@ */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^\s/@:]*)(:[^\s/@]*)?@/gi;

/** Masks credentials in URLs inside a string: mqtt://u:p@h → mqtt://u:[Redacted]@h. */
export function maskUrlCredentials(text: string): string {
  if (!text.includes('@') || !text.includes('://')) return text;
  return text.replace(URL_CREDENTIALS, (_m, scheme: string, user: string, pass: string | undefined) =>
    pass === undefined ? `${scheme}${REDACTED}@` : `${scheme}${user}:${REDACTED}@`,
  );
}

function censor(value: unknown, path: string[]): unknown {
  const last = path[path.length - 1];
  if (last !== undefined && URL_KEY_SET.has(last)) {
    return typeof value === 'string' ? maskUrlCredentials(value) : value;
  }
  return REDACTED;
}

/** Masks URL credentials in every string of a plain log object (bounded depth). */
function scrubStrings(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return maskUrlCredentials(value);
  if (depth <= 0 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrubStrings(v, depth - 1));
  if (Object.getPrototypeOf(value) !== Object.prototype) return value; // Errors, Buffers, class instances
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrubStrings(v, depth - 1);
  return out;
}

/**
 * A pino logger that satisfies the core `Logger` port. `destination` defaults to
 * stdout (pino.destination(1)); tests pass a writable stream to inspect the lines.
 */
export function createLogger(level: LogLevel = 'info', destination?: DestinationStream): PinoLogger & Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (obj) => scrubStrings(obj, 6) as Record<string, unknown>,
    },
    redact: { paths: [...REDACT_PATHS], censor },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((a) => (typeof a === 'string' ? maskUrlCredentials(a) : a));
        method.apply(this, scrubbed as Parameters<typeof method>);
      },
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

export type { Level };
