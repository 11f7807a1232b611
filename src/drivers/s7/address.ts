/**
 * S7 address syntax (the nodes7 dialect, so addresses copied from a nodes7 project keep
 * working): `DB<n>,<type><byte>[.<bit|count>][.<count>]` for data blocks, `<area>[<type>]<byte>…`
 * for inputs (I/E), outputs (Q/A), markers (M), peripheral I/O (PI/PE/PQ/PA, no bits),
 * and `T<n>` / `C<n>` for timers and counters. Parsing is pure and never throws:
 * it returns the reason, which the schema reports on `devices[i].tags[j].address`.
 */

export type S7Type =
  | 'BOOL'
  | 'BYTE'
  | 'CHAR'
  | 'WORD'
  | 'INT'
  | 'DWORD'
  | 'DINT'
  | 'REAL'
  | 'LREAL'
  | 'LINT'
  | 'STRING'
  | 'TIMER'
  | 'COUNTER';

export type S7Area = 'DB' | 'I' | 'Q' | 'M' | 'P' | 'T' | 'C';

/** Area codes of the S7 ReadVar/WriteVar item (S7ANY pointer). */
export const AREA_CODES: Readonly<Record<S7Area, number>> = {
  P: 0x80,
  I: 0x81,
  Q: 0x82,
  M: 0x83,
  DB: 0x84,
  C: 0x1c,
  T: 0x1d,
};

export interface S7Address {
  readonly area: S7Area;
  readonly db: number;
  /** Byte offset (timer/counter number for T and C). */
  readonly start: number;
  /** Bit within the byte, BOOL only. */
  readonly bit: number;
  readonly type: S7Type;
  /** Elements; 1 for a scalar. */
  readonly count: number;
  readonly isArray: boolean;
  /** STRING: declared maximum characters (the element takes strLen + 2 bytes). */
  readonly strLen: number;
}

export type ParseResult =
  { readonly ok: true; readonly address: S7Address } | { readonly ok: false; readonly reason: string };

const DB_TYPES: Readonly<Record<string, S7Type>> = {
  X: 'BOOL',
  B: 'BYTE',
  BYTE: 'BYTE',
  C: 'CHAR',
  CHAR: 'CHAR',
  W: 'WORD',
  WORD: 'WORD',
  I: 'INT',
  INT: 'INT',
  DW: 'DWORD',
  DWORD: 'DWORD',
  DI: 'DINT',
  DINT: 'DINT',
  R: 'REAL',
  REAL: 'REAL',
  LR: 'LREAL',
  LREAL: 'LREAL',
  LI: 'LINT',
  LINT: 'LINT',
  S: 'STRING',
  STRING: 'STRING',
};

/** Type suffix after I/Q/M/P (nodes7: `ID` is a DWORD, `IDI` a DINT). */
const AREA_TYPES: Readonly<Record<string, S7Type>> = {
  '': 'BOOL',
  B: 'BYTE',
  C: 'CHAR',
  W: 'WORD',
  I: 'INT',
  D: 'DWORD',
  DI: 'DINT',
  R: 'REAL',
  LR: 'LREAL',
  LI: 'LINT',
};

const AREA_PREFIX: Readonly<Record<string, S7Area>> = {
  I: 'I',
  E: 'I',
  Q: 'Q',
  A: 'Q',
  M: 'M',
  PI: 'P',
  PE: 'P',
  PQ: 'P',
  PA: 'P',
};

/** The S7ANY pointer holds bit addresses in 24 bits. */
const MAX_BYTE_OFFSET = 0xffff;
const MAX_BYTES = 0xffff;

/** Bytes of one element (BOOL: handled by bit arithmetic). */
export function elementBytes(a: Pick<S7Address, 'type' | 'strLen'>): number {
  switch (a.type) {
    case 'BOOL':
    case 'BYTE':
    case 'CHAR':
      return 1;
    case 'WORD':
    case 'INT':
    case 'TIMER':
    case 'COUNTER':
      return 2;
    case 'DWORD':
    case 'DINT':
    case 'REAL':
      return 4;
    case 'LREAL':
    case 'LINT':
      return 8;
    case 'STRING':
      return a.strLen + 2;
  }
}

/** Bytes the address covers on the PLC (a BOOL array covers whole bytes). */
export function byteLength(a: S7Address): number {
  if (a.type === 'BOOL') return Math.ceil((a.bit + a.count) / 8);
  return a.count * elementBytes(a);
}

const num = (s: string | undefined): number | undefined =>
  s !== undefined && /^\d{1,7}$/.test(s) ? Number(s) : undefined;

export function parseS7Address(text: string): ParseResult {
  const fail = (why: string): ParseResult => ({ ok: false, reason: `"${text}": ${why}` });
  const src = text.trim().toUpperCase();
  if (src.length === 0) return fail('empty address');
  const comma = src.indexOf(',');
  const result = comma >= 0 ? parseDb(src.slice(0, comma), src.slice(comma + 1)) : parseArea(src);
  if (typeof result === 'string') return fail(result);
  const bytes = byteLength(result);
  if (result.area !== 'T' && result.area !== 'C' && result.start + bytes - 1 > MAX_BYTE_OFFSET) {
    return fail(`ends past byte ${MAX_BYTE_OFFSET}`);
  }
  if (bytes > MAX_BYTES) return fail(`covers ${bytes} bytes (at most ${MAX_BYTES})`);
  return { ok: true, address: result };
}

function parseDb(dbPart: string, rest: string): S7Address | string {
  const dbMatch = /^DB(\d+)$/.exec(dbPart);
  if (!dbMatch) return `"${dbPart}" is not a data block (expected e.g. DB1,INT4)`;
  const db = Number(dbMatch[1]);
  if (db < 1 || db > 65535) return `DB number ${db} is outside 1..65535`;
  const m = /^([A-Z]+)(\d*)(?:\.(\d*))?(?:\.(\d*))?$/.exec(rest);
  if (!m) return `"${rest}" is not <type><byte>[.<bit|count>][.<count>] (e.g. INT4, X0.3, REAL8.10, S10.20)`;
  const type = DB_TYPES[m[1]!]!;
  if (!type)
    return `unknown data type "${m[1]}" (use X, BYTE, CHAR, WORD, INT, DWORD, DINT, REAL, LREAL, LINT, STRING)`;
  const start = num(m[2]);
  if (start === undefined) return `missing byte offset after ${m[1]} (e.g. DB1,${m[1]}4)`;
  return withElements('DB', db, start, type, m[3], m[4]);
}

function parseArea(src: string): S7Address | string {
  const tc = /^([TC])(\d+)(?:\.(\d+))?$/.exec(src);
  if (tc) {
    const n = Number(tc[2]);
    const count = tc[3] === undefined ? 1 : Number(tc[3]);
    if (n > 65535) return `${tc[1] === 'T' ? 'timer' : 'counter'} number ${n} is outside 0..65535`;
    if (count < 1) return 'zero-length arrays are not allowed';
    return {
      area: tc[1] as 'T' | 'C',
      db: 0,
      start: n,
      bit: 0,
      type: tc[1] === 'T' ? 'TIMER' : 'COUNTER',
      count,
      isArray: tc[3] !== undefined,
      strLen: 0,
    };
  }
  const m = /^(P[IEQA]|[IEQAM])(LR|LI|DI|[BCWIDR])?(\d+)(?:\.(\d*))?(?:\.(\d*))?$/.exec(src);
  if (!m) return 'not an S7 address (e.g. DB1,INT4, DB1,X0.3, I0.1, QW2, MB10, MR4, T5, C3)';
  const area = AREA_PREFIX[m[1]!]!;
  const type = AREA_TYPES[m[2] ?? '']!;
  if (area === 'P' && type === 'BOOL') return 'peripheral I/O has no bit access (use PIB, PIW, PID…)';
  return withElements(area, 0, Number(m[3]), type, m[4], m[5]);
}

/** Second and third dotted parts: bit and bool count, string length and count, or count. */
function withElements(
  area: S7Area,
  db: number,
  start: number,
  type: S7Type,
  p2: string | undefined,
  p3: string | undefined,
): S7Address | string {
  const second = p2 === undefined ? undefined : num(p2);
  const third = p3 === undefined ? undefined : num(p3);
  if ((p2 !== undefined && second === undefined) || (p3 !== undefined && third === undefined))
    return 'parts after "." must be numbers';
  const base = { area, db, start, type, bit: 0, strLen: 0 };
  if (type === 'BOOL') {
    if (second === undefined)
      return `a bit address needs the bit (e.g. ${area === 'DB' ? `DB${db},X${start}.0` : `${area}${start}.0`})`;
    if (second > 7) return `bit ${second} is outside 0..7`;
    const count = third ?? 1;
    if (count < 1) return 'zero-length arrays are not allowed';
    return { ...base, bit: second, count, isArray: third !== undefined };
  }
  if (type === 'STRING') {
    if (second === undefined) return `a string needs its declared length (e.g. DB${db},S${start}.20)`;
    if (second < 1 || second > 254) return `string length ${second} is outside 1..254`;
    const count = third ?? 1;
    if (count < 1) return 'zero-length arrays are not allowed';
    return { ...base, strLen: second, count, isArray: third !== undefined };
  }
  if (third !== undefined) return `too many "." parts for ${type}`;
  const count = second ?? 1;
  if (count < 1) return 'zero-length arrays are not allowed';
  return { ...base, count, isArray: second !== undefined };
}

/** The scalar address of element `i` of an array address (itself when scalar). */
export function elementAddress(a: S7Address, i: number): S7Address {
  if (!a.isArray) return a;
  if (a.type === 'BOOL') {
    const bitIndex = a.bit + i;
    return { ...a, start: a.start + Math.floor(bitIndex / 8), bit: bitIndex % 8, count: 1, isArray: false };
  }
  const step = a.area === 'T' || a.area === 'C' ? 1 : elementBytes(a);
  return { ...a, start: a.start + i * step, count: 1, isArray: false };
}
