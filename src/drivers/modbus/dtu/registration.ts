/** Matching a new DTU connection's first bytes against the server links' registrations. Pure. */
import { patternBytes, type RegistrationPattern } from './config.js';

/** Bytes of a registration looked at, at most. */
export const MAX_REGISTRATION_BYTES = 256;

export interface CompiledRegistration {
  readonly name: string;
  readonly bytes?: Buffer;
  readonly regex?: RegExp;
}

export function compileRegistration(name: string, p: RegistrationPattern): CompiledRegistration {
  return 'regex' in p ? { name, regex: new RegExp(p.regex) } : { name, bytes: patternBytes(p) };
}

export type RegistrationMatch =
  | { readonly kind: 'match'; readonly name: string; readonly consumed: number }
  | { readonly kind: 'wait' }
  | { readonly kind: 'unknown' };

/**
 * ascii/hex: the buffer starts with the bytes. regex: `exec` on the latin1 text; the match
 * (and anything before it) is consumed. Until `final` (quiet time after the last byte,
 * the registration timeout, or MAX_REGISTRATION_BYTES) the answer is `wait` while a
 * longer pattern could still match or a regex match reaches the end of what arrived (a
 * greedy `\d+` may grow). The longest match wins.
 */
export function matchRegistration(
  buf: Buffer,
  links: readonly CompiledRegistration[],
  final: boolean,
): RegistrationMatch {
  let best: { name: string; consumed: number } | undefined;
  /** A longer match may still come (prefix of a longer pattern, regex match at the end). */
  let longer = false;
  /** A regex that does not match yet may match once more bytes arrive. */
  let later = false;
  let text: string | undefined;
  for (const l of links) {
    if (l.bytes) {
      const n = l.bytes.length;
      if (buf.length >= n) {
        if (buf.compare(l.bytes, 0, n, 0, n) === 0 && (!best || n > best.consumed))
          best = { name: l.name, consumed: n };
      } else if (buf.length > 0 && l.bytes.compare(buf, 0, buf.length, 0, buf.length) === 0) longer = true;
    } else if (l.regex) {
      text ??= buf.toString('latin1');
      const m = l.regex.exec(text);
      if (m) {
        const end = m.index + m[0].length;
        if (end < buf.length || final) {
          if (end > 0 && (!best || end > best.consumed)) best = { name: l.name, consumed: end };
        } else longer = true;
      } else later = true;
    }
  }
  if (best && (final || !longer)) return { kind: 'match', ...best };
  if (final || (!longer && !later)) return { kind: 'unknown' };
  return { kind: 'wait' };
}
