/**
 * Byte specs for registration and heartbeat packets: `ascii:DTU-0001`, `hex:FE`, `hex:fe 01`,
 * `hex:FE-01`, or `none` / empty (no bytes). A bare string without a prefix is ASCII.
 * ASCII specs understand the escapes `\r`, `\n`, `\t`, `\0`, `\\` and `\xHH`.
 */
import type { ByteSpec } from './types.js';

export function parseBytes(spec: string): Buffer {
  if (spec === '' || spec === 'none') return Buffer.alloc(0);
  const colon = spec.indexOf(':');
  const kind = colon > 0 ? spec.slice(0, colon).toLowerCase() : '';
  if (kind === 'hex') {
    const digits = spec
      .slice(colon + 1)
      .replace(/^0x/i, '')
      .replace(/[\s:,_-]/g, '');
    if (digits.length === 0 || digits.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(digits)) {
      throw new Error(`bad hex byte spec "${spec}" (want e.g. hex:FE or hex:"FE 01")`);
    }
    return Buffer.from(digits, 'hex');
  }
  const text = kind === 'ascii' ? spec.slice(colon + 1) : spec;
  return Buffer.from(unescapeAscii(text), 'latin1');
}

function unescapeAscii(text: string): string {
  return text.replace(/\\(x[0-9a-fA-F]{2}|[rnt0\\])/g, (_m, e: string) => {
    switch (e) {
      case 'r':
        return '\r';
      case 'n':
        return '\n';
      case 't':
        return '\t';
      case '0':
        return '\0';
      case '\\':
        return '\\';
      default:
        return String.fromCharCode(parseInt(e.slice(1), 16));
    }
  });
}

/** `FE 01 A0` – for logs. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes)
    .toString('hex')
    .toUpperCase()
    .replace(/(..)(?=.)/g, '$1 ');
}

/** A packet option as given (spec string or raw bytes), `fallback` when absent. */
export function toBytes(spec: ByteSpec | undefined, fallback: string): Buffer {
  if (spec === undefined) return parseBytes(fallback);
  return typeof spec === 'string' ? parseBytes(spec) : Buffer.from(spec);
}
