/**
 * A static check that refuses registration regexes with exponential backtracking: a
 * repeated group whose body can itself repeat or branch (`(a+)+`, `(a|aa)*`, `(\d{2,})*`).
 * A pre-registration peer chooses the bytes a regex runs on, so such a pattern would let
 * 256 bytes from anyone stall the event loop. What is left (e.g. `\d+\d+`) is at most
 * polynomial on MAX_REGISTRATION_BYTES. Pure.
 */

interface Group {
  /** The body repeats something or has an alternation. */
  risky: boolean;
}

/** Length of a quantifier at `i` (`*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`), whether it repeats more than once. */
function quantifierAt(src: string, i: number): { length: number; repeats: boolean } | undefined {
  const c = src[i];
  if (c === '*' || c === '+') return { length: lazy(src, i + 1), repeats: true };
  if (c === '?') return { length: lazy(src, i + 1), repeats: false };
  if (c !== '{') return undefined;
  const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i));
  if (!m) return undefined;
  const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
  return { length: m[0].length - 1 + lazy(src, i + m[0].length), repeats: max > 1 };
}

function lazy(src: string, i: number): number {
  return src[i] === '?' ? 2 : 1;
}

/** Why `src` may backtrack exponentially, or undefined when it passes. */
export function unsafeRegexReason(src: string): string | undefined {
  const stack: Group[] = [{ risky: false }];
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    const top = stack.at(-1);
    if (!top) return 'unbalanced parentheses';
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '[') {
      // A class is one atom: skip to its closing bracket (escapes included).
      for (i++; i < src.length && src[i] !== ']'; i++) if (src[i] === '\\') i++;
      continue;
    }
    if (c === '(') {
      stack.push({ risky: false });
      continue;
    }
    if (c === '|') {
      top.risky = true;
      continue;
    }
    if (c === ')') {
      const closed = stack.pop();
      const parent = stack.at(-1);
      if (!closed || !parent) return 'unbalanced parentheses';
      const q = quantifierAt(src, i + 1);
      if (q?.repeats && closed.risky)
        return `group ending at offset ${i} repeats a body that itself repeats or branches (exponential backtracking)`;
      if (closed.risky || q?.repeats) parent.risky = true;
      if (q) i += q.length;
      continue;
    }
    const q = quantifierAt(src, i);
    if (q?.repeats) top.risky = true;
    if (q) i += q.length - 1;
  }
  return undefined;
}
