/**
 * A tiny JSON Schema (2020-12 subset) checker, enough for docs/mqtt-payload.schema.json:
 * $ref (local), oneOf, allOf, type, const, enum, required, properties,
 * additionalProperties, items, prefixItems, minItems, maxItems, minLength, minimum. No new dependency.
 * It throws if the schema uses a keyword it does not know, so it cannot pass silently.
 */
export type Schema = boolean | { readonly [k: string]: unknown };

const KNOWN = new Set([
  '$schema',
  '$id',
  '$defs',
  '$ref',
  'title',
  'description',
  'oneOf',
  'allOf',
  'type',
  'const',
  'enum',
  'required',
  'properties',
  'additionalProperties',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'minLength',
  'minimum',
]);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(v: unknown, t: string): boolean {
  const actual = typeOf(v);
  return actual === t || (t === 'number' && actual === 'integer');
}

export function validate(root: Schema, value: unknown): string[] {
  const errors: string[] = [];
  const resolve = (ref: string): Schema => {
    if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`);
    let node: unknown = root;
    for (const part of ref.slice(2).split('/')) node = (node as Record<string, unknown>)[part];
    if (node === undefined) throw new Error(`dangling $ref ${ref}`);
    return node as Schema;
  };
  const check = (schema: Schema, v: unknown, path: string, out: string[]): void => {
    if (schema === true) return;
    if (schema === false) return void out.push(`${path}: not allowed`);
    for (const k of Object.keys(schema))
      if (!KNOWN.has(k)) throw new Error(`schema keyword ${k} not supported by the checker`);
    const s = schema as Record<string, unknown>;
    if (typeof s.$ref === 'string') check(resolve(s.$ref), v, path, out);
    if (Array.isArray(s.allOf)) for (const sub of s.allOf) check(sub as Schema, v, path, out);
    if (Array.isArray(s.oneOf)) {
      const results = s.oneOf.map((sub) => {
        const e: string[] = [];
        check(sub as Schema, v, path, e);
        return e;
      });
      const ok = results.filter((e) => e.length === 0).length;
      if (ok !== 1)
        out.push(`${path}: matches ${ok} of oneOf (${results.map((e) => e[0] ?? 'ok').join(' | ')})`);
    }
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
      if (!types.some((t) => typeMatches(v, t)))
        return void out.push(`${path}: expected ${types.join('|')}, got ${typeOf(v)}`);
    }
    if ('const' in s && v !== s.const) out.push(`${path}: expected ${JSON.stringify(s.const)}`);
    if (Array.isArray(s.enum) && !s.enum.includes(v)) out.push(`${path}: not in enum`);
    if (typeof s.minLength === 'number' && typeof v === 'string' && v.length < s.minLength)
      out.push(`${path}: too short`);
    if (typeof s.minimum === 'number' && typeof v === 'number' && v < s.minimum)
      out.push(`${path}: below minimum`);
    if (typeOf(v) === 'object') {
      const obj = v as Record<string, unknown>;
      if (Array.isArray(s.required))
        for (const k of s.required as string[]) if (!(k in obj)) out.push(`${path}: missing ${k}`);
      const props = (s.properties ?? {}) as Record<string, Schema>;
      for (const [k, val] of Object.entries(obj)) {
        if (k in props) check(props[k]!, val, `${path}.${k}`, out);
        else if (s.additionalProperties !== undefined)
          check(s.additionalProperties as Schema, val, `${path}.${k}`, out);
      }
    }
    if (Array.isArray(v)) {
      if (typeof s.minItems === 'number' && v.length < s.minItems)
        out.push(`${path}: fewer than ${s.minItems} items`);
      if (typeof s.maxItems === 'number' && v.length > s.maxItems)
        out.push(`${path}: more than ${s.maxItems} items`);
      const prefix = Array.isArray(s.prefixItems) ? (s.prefixItems as Schema[]) : [];
      v.forEach((item, i) => {
        const sub = i < prefix.length ? prefix[i] : s.items;
        if (sub !== undefined) check(sub as Schema, item, `${path}[${i}]`, out);
      });
    }
  };
  check(root, value, '$', errors);
  return errors;
}
