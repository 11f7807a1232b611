/** The shapes a Modbus device reports: its status, and the outcome of one read. */
import type { BreakerState } from '../../core/breaker.js';
import type { TagValue } from '../../core/types.js';
import type { LineStatus } from './line.js';
import type { Refusals } from './refusals.js';

/** A read's values, and whether the device answered the read as a whole. */
export interface ReadOutcome {
  readonly values: TagValue[];
  readonly answered: boolean;
  readonly refusal?: { readonly code: string; readonly reason: string; readonly modbusCode?: number };
}

/** A Modbus device in status.json (a type alias, so it is a Record<string, unknown> for DeviceDriver). */
export type ModbusDeviceStatus = {
  readonly polls: number;
  readonly requests: number;
  readonly errors: number;
  readonly errorsByCode: Readonly<Record<string, number>>;
  readonly lastLatencyMs: number | undefined;
  readonly breaker: BreakerState;
  readonly breakerOpens: number;
  readonly writes: number;
  readonly writeErrors: number;
  readonly consecutiveFailures: number;
  readonly line: LineStatus | { readonly state: 'idle' };
  readonly plansCached: number;
  readonly splits: number;
  readonly quarantined: readonly { readonly tag: string; readonly modbusCode: number | null }[];
  readonly holes: ReturnType<Refusals['holeList']>;
  readonly probes: number;
  readonly released: number;
};
