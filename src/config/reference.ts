/**
 * docs/config.md, generated from the JSON Schema so the reference cannot drift from
 * what the agent accepts: every key, its type, default and description.
 */
type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  pattern?: string;
};

interface Row {
  key: string;
  type: string;
  def: string;
  doc: string;
}

function typeOf(s: Schema): string {
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(' | ');
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return alts.map(typeOf).join(' | ');
  if (s.type === 'array') return `list of ${s.items ? typeOf(s.items) : 'any'}`;
  if (s.type === 'object' && s.properties) return `{${Object.keys(s.properties).join(', ')}}`;
  const base = Array.isArray(s.type) ? s.type.join('|') : (s.type ?? 'any');
  const range =
    s.minimum !== undefined && s.maximum !== undefined && Math.abs(s.maximum) < 1e15
      ? ` ${s.minimum}…${s.maximum}`
      : s.minimum !== undefined && s.minimum > -1e15
        ? ` ≥ ${s.minimum}`
        : '';
  return `${base}${range}`;
}

function walk(s: Schema, prefix: string, rows: Row[]): void {
  for (const [name, child] of Object.entries(s.properties ?? {})) {
    const key = `${prefix}${name}`;
    const required = s.required?.includes(name) && child.default === undefined;
    const def =
      child.default === undefined ? (required ? '**required**' : '') : `\`${JSON.stringify(child.default)}\``;
    rows.push({ key, type: typeOf(child), def, doc: child.description ?? '' });
    if (
      child.properties &&
      !(child.type === 'object' && child.default !== undefined && Object.keys(child.properties).length === 0)
    )
      walk(child, `${key}.`, rows);
    const alts = child.anyOf ?? child.oneOf;
    if (alts) alts.filter((a) => a.properties).forEach((a) => walk(a, `${key}.`, rows));
    if (child.items?.properties) walk(child.items, `${key}[].`, rows);
    if (child.items?.anyOf || child.items?.oneOf)
      for (const a of child.items.anyOf ?? child.items.oneOf ?? []) walk(a, `${key}[].`, rows);
  }
}

function dedupe(rows: Row[]): Row[] {
  const seen = new Map<string, Row>();
  for (const r of rows) {
    const first = seen.get(r.key);
    if (!first) seen.set(r.key, r);
    // A key in several variants of a union (mode: server | client) lists every type, once.
    else {
      const parts = first.type.split(' | ');
      const added = r.type.split(' | ').filter((t) => !parts.includes(t));
      if (added.length > 0) seen.set(r.key, { ...first, type: [...parts, ...added].join(' | ') });
    }
  }
  return [...seen.values()];
}

export function configReference(jsonSchema: Record<string, unknown>): string {
  const rows: Row[] = [];
  walk(jsonSchema, '', rows);
  const cell = (t: string): string => t.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    '# Configuration reference',
    '',
    'Generated from the schemas in `src/config/sections/` and `src/drivers/*/config.ts` by',
    '`npm run build`; a test fails when it is stale. Unknown keys are rejected everywhere.',
    'Validate a file with `edge-agent check-config FILE`. Editors: `docs/config.schema.json`.',
    '',
    '| key | type | default | meaning |',
    '| --- | --- | --- | --- |',
    ...dedupe(rows).map((r) => `| \`${r.key}\` | ${cell(r.type)} | ${r.def} | ${cell(r.doc)} |`),
    '',
  ];
  return lines.join('\n');
}
