/**
 * Writes: only tags configured `writable`, values checked against the type before
 * anything is sent, exactly one WriteVar request, never retried. The connection's own
 * request timeout bounds the wait (nodes7's writeItems could wait forever).
 */
import { outOfRange } from '../../config-kit/write-range.js';
import { EdgeError } from '../../core/errors.js';
import type { WriteValue } from '../../core/ports.js';
import { AREA_CODES, elementAddress, type S7Address } from './address.js';
import { encodePoint, type S7Point } from './codec.js';
import type { S7DeviceConfig, S7TagConfig } from './config.js';
import type { S7Connection } from './connection.js';
import { headerErrorCode, itemErrorCode, itemErrorText } from './errors.js';
import {
  buildWriteRequest,
  ITEM_OK,
  parseWriteReply,
  writeRequestBytes,
  type WriteItem,
} from './protocol.js';

export interface WriteContext {
  readonly device: string;
  readonly conn: S7Connection | undefined;
  readonly linkError: EdgeError;
  readonly config: S7DeviceConfig;
  readonly tags: ReadonlyMap<string, { readonly config: S7TagConfig; readonly address: S7Address }>;
  readonly points: ReadonlyMap<string, S7Point>;
}

function writeItem(point: S7Point, data: Buffer): WriteItem {
  const a = point.address;
  const code = AREA_CODES[a.area];
  if (a.type === 'BOOL')
    return {
      spec: { areaCode: code, db: a.db, start: a.start, bit: a.bit, length: 1, transport: 0x01 },
      data,
    };
  if (a.area === 'T' || a.area === 'C')
    return {
      spec: { areaCode: code, db: 0, start: a.start, bit: 0, length: data.length / 2, transport: code },
      data,
    };
  return {
    spec: { areaCode: code, db: a.db, start: a.start, bit: 0, length: data.length, transport: 0x02 },
    data,
  };
}

/** The items writing `value` to `name` (a tag, or one element `tag.i` of an array tag). */
function itemsFor(ctx: WriteContext, name: string, value: WriteValue): WriteItem[] {
  const { device } = ctx;
  const point = ctx.points.get(name);
  const tag = ctx.tags.get(point?.tag ?? name);
  if (!tag || !tag.config.writable) {
    const why = tag ? 'is not configured writable' : 'does not exist';
    const code = tag ? 'EDGE_ERR_CMD_NOT_WRITABLE' : 'EDGE_ERR_CMD_UNKNOWN_TAG';
    throw new EdgeError(code, `device ${device}: tag "${name}" ${why}`, { context: { device, tag: name } });
  }
  const outside = outOfRange(tag.config, value);
  if (outside)
    throw new EdgeError('EDGE_ERR_CMD_BAD_VALUE', `device ${device}: tag "${name}" ${outside}`, {
      context: { device, tag: name },
    });
  const invalid = (reason: string): EdgeError =>
    new EdgeError(
      'EDGE_ERR_CMD_BAD_VALUE',
      `device ${device}: tag "${name}" (${tag.address.type}${tag.address.isArray ? `[${tag.address.count}]` : ''}) ${reason}`,
      {
        context: { device, tag: name },
      },
    );
  // Array tags publish (and write) elements as `tag.i`; only the whole array has no point of its own.
  if (point) {
    if (Array.isArray(value)) throw invalid(`expects one value, got an array of ${value.length}`);
    const data = encodePoint(point, value);
    if (typeof data === 'string') throw invalid(data);
    return [writeItem(point, data)];
  }
  if (!Array.isArray(value)) throw invalid(`expects an array of ${tag.address.count}, got ${typeof value}`);
  if (value.length !== tag.address.count)
    throw invalid(`expects ${tag.address.count} elements, got ${value.length}`);
  const elements = value.map((v, i) => {
    const element: S7Point = {
      ...ctx.points.get(`${tag.config.name}.${i}`)!,
      address: elementAddress(tag.address, i),
    };
    const data = encodePoint(element, v);
    if (typeof data === 'string') throw invalid(`element ${i} ${data}`);
    return { element, data };
  });
  const a = tag.address;
  if (a.type === 'BOOL' || a.type === 'STRING') return elements.map((e) => writeItem(e.element, e.data));
  return [writeItem(elements[0]!.element, Buffer.concat(elements.map((e) => e.data)))];
}

export async function writeTag(ctx: WriteContext, name: string, value: WriteValue): Promise<void> {
  const { device, conn } = ctx;
  const items = itemsFor(ctx, name, value);
  if (!conn) {
    throw new EdgeError(
      'EDGE_ERR_S7_DISCONNECTED',
      `device ${device}: not connected (${ctx.linkError.code}); nothing was written`,
      { context: { device, tag: name, sent: false } },
    );
  }
  if (items.length > ctx.config.maxItemsPerRequest || writeRequestBytes(items) > conn.pduSize) {
    throw new EdgeError(
      'EDGE_ERR_CMD_BAD_VALUE',
      `device ${device}: tag "${name}": the value does not fit one PDU of ${conn.pduSize} bytes; nothing was written`,
      {
        context: { device, tag: name },
      },
    );
  }
  let ack;
  try {
    ack = await conn.request((ref) => buildWriteRequest(ref, items));
  } catch (thrown) {
    const cause = thrown instanceof EdgeError ? thrown : undefined;
    throw new EdgeError(
      'EDGE_ERR_S7_WRITE_UNCONFIRMED',
      `device ${device}: write of "${name}" not confirmed (${cause?.code ?? String(thrown)}); outcome unknown, not retried`,
      {
        cause: thrown,
        context: { device, tag: name, code: cause?.code },
      },
    );
  }
  const reply = parseWriteReply(ack, items.length);
  if (!reply.ok) {
    throw new EdgeError(
      'EDGE_ERR_S7_WRITE_UNCONFIRMED',
      `device ${device}: write of "${name}": malformed answer (${reply.reason}); outcome unknown`,
      {
        context: { device, tag: name },
      },
    );
  }
  if (reply.value.kind === 'rejected') {
    const plcCode = headerErrorCode(reply.value.errorClass, reply.value.errorCode);
    throw new EdgeError(
      'EDGE_ERR_S7_REQUEST_REJECTED',
      `device ${device}: PLC rejected the write of "${name}" (error 0x${plcCode.toString(16)})`,
      {
        context: { device, tag: name, plcCode },
      },
    );
  }
  const failed = reply.value.codes.find((c) => c !== ITEM_OK);
  if (failed !== undefined) {
    throw new EdgeError(
      itemErrorCode(failed),
      `device ${device}: PLC refused the write of "${name}": ${itemErrorText(failed)}`,
      {
        context: { device, tag: name, plcCode: failed },
      },
    );
  }
}
