/**
 * Writes, with the same rules as Modbus and S7: only tags configured `writable`, the value
 * checked against min/max and the tag's type before anything is sent, exactly one Write
 * request, never retried. The server's status code says whether it took the value, and
 * GoodClamped that it stored another one (its limit): that is not a success either.
 */
import { outOfRange } from '../../config-kit/write-range.js';
import type { Clock } from '../../core/clock.js';
import { EdgeError } from '../../core/errors.js';
import type { WriteValue } from '../../core/ports.js';
import type { OpcuaDeviceConfig, OpcuaTagConfig } from './config.js';
import { encodeValue } from './datatypes.js';
import { opcuaError } from './errors.js';
import { withTimeout, type OpcuaLink } from './session.js';

export interface WriteContext {
  readonly device: string;
  readonly clock: Clock;
  readonly config: OpcuaDeviceConfig;
  readonly tags: ReadonlyMap<string, OpcuaTagConfig>;
  /** The link when it is up; undefined while down or reconnecting. */
  readonly link: OpcuaLink | undefined;
  readonly linkError: EdgeError;
}

function checked(
  ctx: WriteContext,
  name: string,
  value: WriteValue,
): { tag: OpcuaTagConfig; variant: { dataType: number; value: number | boolean | string } } {
  const { device } = ctx;
  const tag = ctx.tags.get(name);
  if (!tag || !tag.writable) {
    const why = tag ? 'is not configured writable' : 'does not exist';
    const code = tag ? 'EDGE_ERR_CMD_NOT_WRITABLE' : 'EDGE_ERR_CMD_UNKNOWN_TAG';
    throw new EdgeError(code, `device ${device}: tag "${name}" ${why}`, { context: { device, tag: name } });
  }
  const outside = outOfRange(tag, value);
  if (outside)
    throw new EdgeError('EDGE_ERR_CMD_BAD_VALUE', `device ${device}: tag "${name}" ${outside}`, {
      context: { device, tag: name },
    });
  const encoded = Array.isArray(value)
    ? ({ ok: false, reason: 'is a scalar; got an array' } as const)
    : encodeValue(tag, value);
  if (!encoded.ok)
    throw new EdgeError(
      'EDGE_ERR_CMD_BAD_VALUE',
      `device ${device}: tag "${name}" (${tag.dataType}) ${encoded.reason}`,
      {
        context: { device, tag: name },
      },
    );
  return { tag, variant: encoded.variant };
}

/** GoodClamped (Part 6, StatusCode.csv): the value was written after the server clamped it. */
const GOOD_CLAMPED = 0x00300000;

export async function writeTag(ctx: WriteContext, name: string, value: WriteValue): Promise<void> {
  const { device } = ctx;
  const { tag, variant } = checked(ctx, name, value);
  const session = ctx.link?.session;
  const ua = ctx.link?.ua;
  if (!session || !ua)
    throw opcuaError(
      'EDGE_ERR_OPCUA_DISCONNECTED',
      `device ${device}: not connected (${ctx.linkError.code}); nothing was written`,
      {
        device,
        tag: name,
        sent: false,
      },
    );
  let status;
  try {
    status = await withTimeout(
      ctx.clock,
      session.write({
        nodeId: tag.nodeId,
        attributeId: ua.AttributeIds.Value,
        value: { value: new ua.Variant(variant) },
      }),
      ctx.config.requestTimeoutMs,
      'write',
    );
  } catch (thrown) {
    const why = thrown instanceof Error ? thrown.message : String(thrown);
    throw opcuaError(
      'EDGE_ERR_OPCUA_WRITE_UNCONFIRMED',
      `device ${device}: write of "${name}" not confirmed (${why}); outcome unknown, not retried`,
      { device, tag: name },
      thrown,
    );
  }
  // Severity bits (Part 4, 7.39): anything but Good (Uncertain included) did not take the value for sure.
  if (status.value >>> 30 !== 0)
    throw opcuaError(
      'EDGE_ERR_OPCUA_WRITE_REFUSED',
      `device ${device}: the server refused the write of "${name}" (${status.name})`,
      {
        device,
        tag: name,
        opcuaStatus: status.name,
      },
    );
  // The low 16 bits are info bits; the code is the top 16.
  if ((status.value & 0xffff0000) >>> 0 === GOOD_CLAMPED)
    throw opcuaError(
      'EDGE_ERR_OPCUA_WRITE_CLAMPED',
      `device ${device}: the server clamped the write of "${name}" (${status.name}): the value it stored is not ${String(value)}`,
      { device, tag: name, opcuaStatus: status.name, requested: value, applied: true },
    );
}
