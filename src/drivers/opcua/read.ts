/**
 * The Read service: one request for a list of tags (maxAge 0, so the server reads its
 * source), each result as the tag's value. Poll mode reads the due tags at each poll;
 * subscription mode reads every tag once after a (re)connection (the catch-up Read).
 */
import type { Clock } from '../../core/clock.js';
import { EdgeError } from '../../core/errors.js';
import { badValue, type TagValue } from '../../core/types.js';
import type { OpcuaDeviceConfig, OpcuaTagConfig } from './config.js';
import { tagValueOf } from './datatypes.js';
import { withTimeout, type OpcuaLink } from './session.js';

export interface ReadContext {
  readonly clock: Clock;
  readonly config: OpcuaDeviceConfig;
  /** What the Read rejects with when the link has no session. */
  readonly linkError: EdgeError;
}

/** The tags' values; rejects when the request fails (no answer in time, link broken). */
export async function readTags(
  ctx: ReadContext,
  link: OpcuaLink,
  tags: readonly OpcuaTagConfig[],
): Promise<TagValue[]> {
  const { session, ua } = link;
  if (!session || !ua) throw ctx.linkError;
  const nodes = tags.map((t) => ({ nodeId: t.nodeId, attributeId: ua.AttributeIds.Value }));
  const results = await withTimeout(ctx.clock, session.read(nodes, 0), ctx.config.requestTimeoutMs, 'read');
  return tags.map((tag, i) => {
    const dv = results[i];
    return dv
      ? tagValueOf(tag, dv, ctx.config.uncertain)
      : badValue(tag.name, 'EDGE_ERR_OPCUA_BAD_STATUS', 'no result for the node');
  });
}

/** Poll mode: the tags' values, or all bad with the code of the failed request. */
export function readOrBad(
  ctx: ReadContext,
  link: OpcuaLink,
  tags: readonly OpcuaTagConfig[],
): Promise<TagValue[]> {
  return readTags(ctx, link, tags).catch((thrown: unknown) => {
    const why = thrown instanceof Error ? thrown.message : String(thrown);
    const code = /timed out/.test(why) ? 'EDGE_ERR_OPCUA_TIMEOUT' : 'EDGE_ERR_OPCUA_DISCONNECTED';
    return tags.map((t) => badValue(t.name, code, why));
  });
}

/** The configured tags of these names; a name the device does not have is a config error. */
export function namedTags(
  byName: ReadonlyMap<string, OpcuaTagConfig>,
  device: string,
  names: readonly string[],
): OpcuaTagConfig[] {
  return names.map((name) => {
    const tag = byName.get(name);
    if (!tag)
      throw new EdgeError('EDGE_ERR_CONFIG_INVALID', `device ${device} has no tag "${name}"`, {
        context: { device, tag: name },
      });
    return tag;
  });
}
