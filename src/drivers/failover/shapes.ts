/**
 * What a source publishes for each tag (its wire type, the raw type it reads, scale and
 * offset), so init() can refuse a secondary that would publish another quantity under the
 * same tag name as good: a Boolean for a number, a UInt16 for an Int16 (-5 read as 65531),
 * an integer read with scale 0.1 on one side and 1 on the other (230.1 V against 2301), or
 * an integer against a floating-point value (scaled somewhere the config cannot see).
 * Built from each driver's `tagTypes` and the configs' `scale`/`offset`: generic, any driver.
 */
import type { TagValueType } from '../../core/value-type.js';

export interface TagShape {
  /** The published (wire) type: a scaled number is Double. */
  readonly type: TagValueType;
  /** The type the driver reads before scaling. */
  readonly raw: TagValueType;
  readonly scale: number;
  readonly offset: number;
  /** Where the tag is in its device config, e.g. `tags[1]`, and its type field there. */
  readonly path: string;
  readonly typeField: string;
}

export type TagShapes = ReadonlyMap<string, TagShape>;

/** A driver definition's `tagTypes` for a config (undefined: the driver declares none). */
export type TagTypesOf = (config: DeviceLike) => ReadonlyMap<string, TagValueType> | undefined;

interface DeviceLike {
  readonly driver: string;
  readonly tags?: unknown;
}

interface TagLike {
  readonly name: string;
  readonly scale?: number;
  readonly offset?: number;
}

function isTag(t: unknown): t is TagLike {
  return typeof t === 'object' && t !== null && typeof (t as { name?: unknown }).name === 'string';
}

const TYPE_FIELDS = ['dataType', 'type', 'address'] as const;

/** The shapes of a device's published tags, or undefined when its driver declares no types. */
export function tagShapesOf(config: DeviceLike, tagTypesOf: TagTypesOf): TagShapes | undefined {
  const tags = Array.isArray(config.tags) ? (config.tags as unknown[]).filter(isTag) : [];
  const published = tagTypesOf(config);
  // The same config with every scaling removed: the types the driver reads.
  const raw = tagTypesOf({ ...config, tags: tags.map((t) => ({ ...t, scale: 1, offset: 0 })) });
  if (!published || !raw) return undefined;
  const shapes = new Map<string, TagShape>();
  for (const [name, type] of published) {
    // An array element (S7 `name.0`) has the scaling of its tag `name`.
    const index = tags.findIndex((t) => t.name === name || name.startsWith(`${t.name}.`));
    const tag = tags[index];
    const typeField = TYPE_FIELDS.find((f) => tag && f in tag) ?? 'type';
    shapes.set(name, {
      type,
      raw: raw.get(name) ?? type,
      scale: tag?.scale ?? 1,
      offset: tag?.offset ?? 0,
      path: index >= 0 ? `tags[${index}]` : 'tags',
      typeField,
    });
  }
  return shapes;
}

const INT_RANGE: Partial<Record<TagValueType, readonly [number, number]>> = {
  Int8: [-(2 ** 7), 2 ** 7 - 1],
  UInt8: [0, 2 ** 8 - 1],
  Int16: [-(2 ** 15), 2 ** 15 - 1],
  UInt16: [0, 2 ** 16 - 1],
  Int32: [-(2 ** 31), 2 ** 31 - 1],
  UInt32: [0, 2 ** 32 - 1],
  Int64: [-(2 ** 63), 2 ** 63 - 1],
  UInt64: [0, 2 ** 64 - 1],
};

type Kind = 'Boolean' | 'String' | 'integer' | 'float';

function kindOf(type: TagValueType): Kind {
  if (type === 'Boolean' || type === 'String') return type;
  return INT_RANGE[type] ? 'integer' : 'float';
}

/** Two raw integer types read the same quantity alike when one's range holds the other's. */
function nested(a: TagValueType, b: TagValueType): boolean {
  const [x, y] = [INT_RANGE[a], INT_RANGE[b]];
  if (!x || !y) return false;
  return (x[0] <= y[0] && x[1] >= y[1]) || (y[0] <= x[0] && y[1] >= x[1]);
}

export interface ShapeIssue {
  readonly tag: string;
  /** The field of the secondary's tag, relative to the device: `failover.secondary.tags[1].scale`. */
  readonly field: string;
  readonly message: string;
}

/** Why the secondary's tag `s` would not publish what the primary's `p` does (undefined: it would). */
function mismatch(p: TagShape, s: TagShape): { field: string; message: string } | undefined {
  const [pk, sk] = [kindOf(p.raw), kindOf(s.raw)];
  if (pk !== sk)
    return {
      field: s.typeField,
      message: `reads ${s.raw} (${sk}), the primary ${p.raw} (${pk})`,
    };
  if (pk === 'integer' && !nested(p.raw, s.raw))
    return {
      field: s.typeField,
      message: `reads ${s.raw}, the primary ${p.raw}: a value one holds reads differently as the other (sign or range)`,
    };
  if (pk !== 'integer' && pk !== 'float') return undefined;
  if (p.scale !== s.scale) return { field: 'scale', message: `has scale ${s.scale}, the primary ${p.scale}` };
  if (p.offset !== s.offset)
    return { field: 'offset', message: `has offset ${s.offset}, the primary ${p.offset}` };
  return undefined;
}

/**
 * The mapped tags whose secondary would publish another type or scaling than the primary
 * (`map`: primary tag → secondary tag). A side without shapes is not checked.
 */
export function shapeIssues(
  primary: TagShapes | undefined,
  secondary: TagShapes | undefined,
  map: ReadonlyMap<string, string>,
): ShapeIssue[] {
  if (!primary || !secondary) return [];
  const issues: ShapeIssue[] = [];
  for (const [from, to] of map) {
    const [p, s] = [primary.get(from), secondary.get(to)];
    const problem = p && s ? mismatch(p, s) : undefined;
    if (!p || !s || !problem) continue;
    issues.push({
      tag: from,
      field: `failover.secondary.${s.path}.${problem.field}`,
      message: `the secondary tag "${to}" for "${from}" ${problem.message}; switching would publish another quantity as good`,
    });
  }
  return issues;
}
