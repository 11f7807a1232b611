/**
 * One round of reads: sends the planned requests (pipelined by the connection), maps each
 * item's answer to its points and decodes them. A failure is scoped: `item` (the PLC
 * refused that item), `request` (the whole answer was refused or malformed) or `link`
 * (timeout, connection lost). Only `link` says anything about the connection.
 */
import { EdgeError } from '../../core/errors.js';
import { badValue, type TagValue } from '../../core/types.js';
import { decodePoint, pointBytes, type S7Point } from './codec.js';
import type { S7Connection } from './connection.js';
import { headerErrorCode, itemErrorCode, itemErrorText } from './errors.js';
import type { PlannedItem, PlannedRequest } from './plan.js';
import { buildReadRequest, ITEM_OK, parseReadReply } from './protocol.js';

export type Scope = 'item' | 'request' | 'link';

export interface PointFailure {
  readonly code: string;
  readonly reason: string;
  readonly scope: Scope;
  readonly plcCode?: number;
  /** Points that shared the failed item or request (1 = the point alone). */
  readonly sharedWith: number;
}

export interface PointOutcome {
  readonly value: TagValue;
  readonly failure?: PointFailure;
}

type ItemOutcome =
  { readonly ok: true; readonly data: Buffer } | { readonly ok: false; readonly failure: PointFailure };

export interface RoundResult {
  readonly outcomes: Map<S7Point, PointOutcome>;
  readonly requests: number;
}

const LINK_CODES = new Set(['EDGE_ERR_S7_TIMEOUT', 'EDGE_ERR_S7_DISCONNECTED']);

function pointsOf(request: PlannedRequest): number {
  return new Set(request.items.flatMap((i) => i.parts.map((p) => p.point))).size;
}

async function runRequest(conn: S7Connection, request: PlannedRequest): Promise<ItemOutcome[]> {
  const fail = (code: string, reason: string, scope: Scope, plcCode?: number): ItemOutcome[] => {
    const failure: PointFailure = { code, reason, scope, plcCode, sharedWith: pointsOf(request) };
    return request.items.map(() => ({ ok: false, failure }));
  };
  let ack;
  try {
    ack = await conn.request((ref) =>
      buildReadRequest(
        ref,
        request.items.map((i) => i.spec),
      ),
    );
  } catch (thrown) {
    const error =
      thrown instanceof EdgeError ? thrown : new EdgeError('EDGE_ERR_S7_BAD_RESPONSE', String(thrown));
    return fail(error.code, error.message, LINK_CODES.has(error.code) ? 'link' : 'request');
  }
  const reply = parseReadReply(ack, request.items.length);
  if (!reply.ok) return fail('EDGE_ERR_S7_BAD_RESPONSE', reply.reason, 'request');
  if (reply.value.kind === 'rejected') {
    const plc = headerErrorCode(reply.value.errorClass, reply.value.errorCode);
    return fail(
      'EDGE_ERR_S7_REQUEST_REJECTED',
      `PLC rejected the request (error 0x${plc.toString(16).padStart(4, '0')})`,
      'request',
      plc,
    );
  }
  return reply.value.items.map((result, i): ItemOutcome => {
    const item = request.items[i]!;
    if (result.code === ITEM_OK && 'data' in result) {
      if (result.data.length >= item.dataBytes) return { ok: true, data: result.data };
      const failure: PointFailure = {
        code: 'EDGE_ERR_S7_BAD_RESPONSE',
        reason: `item carries ${result.data.length} of ${item.dataBytes} bytes`,
        scope: 'request',
        sharedWith: item.parts.length,
      };
      return { ok: false, failure };
    }
    const failure: PointFailure = {
      code: itemErrorCode(result.code),
      reason: itemErrorText(result.code),
      scope: 'item',
      plcCode: result.code,
      sharedWith: new Set(item.parts.map((p) => p.point)).size,
    };
    return { ok: false, failure };
  });
}

/** Reads the requests and returns every involved point's value (or failure). */
export async function readRound(
  conn: S7Connection,
  requests: readonly PlannedRequest[],
): Promise<RoundResult> {
  const answers = await Promise.all(requests.map((r) => runRequest(conn, r)));
  const buffers = new Map<S7Point, Buffer>();
  const failures = new Map<S7Point, PointFailure>();
  requests.forEach((request, r) => {
    request.items.forEach((item: PlannedItem, i) => {
      const answer = answers[r]![i]!;
      for (const part of item.parts) {
        if (!answer.ok) {
          if (!failures.has(part.point)) failures.set(part.point, answer.failure);
          continue;
        }
        let buffer = buffers.get(part.point);
        if (!buffer) buffers.set(part.point, (buffer = Buffer.alloc(pointBytes(part.point.address))));
        answer.data.copy(buffer, part.pointOffset, part.itemOffset, part.itemOffset + part.length);
      }
    });
  });
  const outcomes = new Map<S7Point, PointOutcome>();
  for (const [point, failure] of failures)
    outcomes.set(point, { value: badValue(point.name, failure.code, failure.reason), failure });
  for (const [point, buffer] of buffers)
    if (!failures.has(point)) outcomes.set(point, { value: decodePoint(point, buffer) });
  return { outcomes, requests: requests.length };
}
