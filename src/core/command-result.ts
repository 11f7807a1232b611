/** What `{device}/cmd` carries and what `{device}/cmd/result` answers (docs/mqtt-payload.md). */
import { z } from 'zod';
import { toEdgeError, type EdgeErrorCode } from './errors.js';

export type CommandStatus = 'done' | 'error' | 'rejected';

/** What `{device}/cmd/result` carries. */
export interface CommandResult {
  readonly id: string;
  readonly status: CommandStatus;
  readonly code?: string;
  /** The device's own code (Modbus exception code), when it refused. */
  readonly deviceCode?: number | string;
  /** The PLC's own code (S7 return code), when it refused. */
  readonly plcCode?: number | string;
  readonly message?: string;
  readonly ts: number;
}

export const MAX_ID_LENGTH = 128;

export const commandPayloadSchema = z.strictObject({
  id: z.string().min(1).max(MAX_ID_LENGTH),
  tag: z.string().min(1).max(256),
  value: z.union([
    z.number(),
    z.boolean(),
    z.string().max(4096),
    z.array(z.union([z.number(), z.boolean()])).max(4096),
  ]),
  /** Issued at, ms since the epoch (freshness: command-guard.ts). */
  ts: z.number().int().positive().optional(),
  /** Valid this long after ts (capped by commands.maxAgeMs). */
  ttlMs: z.number().int().positive().optional(),
});
export type CommandPayload = z.infer<typeof commandPayloadSchema>;

/** Codes meaning "refused before anything was sent to the device". */
const REJECTION_CODES: ReadonlySet<string> = new Set<EdgeErrorCode>([
  'EDGE_ERR_CMD_INVALID',
  'EDGE_ERR_CMD_NOT_ALLOWED',
  'EDGE_ERR_CMD_UNKNOWN_TAG',
  'EDGE_ERR_CMD_NOT_WRITABLE',
  'EDGE_ERR_CMD_BAD_VALUE',
  'EDGE_ERR_CMD_UNSUPPORTED',
  'EDGE_ERR_CMD_BUSY',
  'EDGE_ERR_CMD_RETAINED',
  'EDGE_ERR_CMD_EXPIRED',
  'EDGE_ERR_CMD_DUPLICATE',
]);

/**
 * The result a driver error stands for. `rejected` means nothing was written: a refusal
 * code, or a driver error whose `context.sent` is false (the device was unreachable, so
 * the write never left the agent). `error` is for everything after a request went out.
 */
export function resultFromError(id: string, thrown: unknown, ts: number): CommandResult {
  const error = toEdgeError(thrown, 'EDGE_ERR_CMD_WRITE');
  const ctx = error.context;
  const notSent = REJECTION_CODES.has(error.code) || ctx.sent === false;
  const deviceCode = ctx.deviceCode ?? ctx.modbusCode;
  const plcCode = ctx.plcCode;
  return {
    id,
    status: notSent ? 'rejected' : 'error',
    code: error.code,
    ...(typeof deviceCode === 'number' || typeof deviceCode === 'string' ? { deviceCode } : {}),
    ...(typeof plcCode === 'number' || typeof plcCode === 'string' ? { plcCode } : {}),
    message: error.message,
    ts,
  };
}
