/**
 * What the gateway stores in the outbox, with the pile as device: data frames as telemetry
 * (STATUS, BATT_TELEM) or events (CMD_ACK, FAULT), and the state machine's effects as
 * events (cip22-state, cip22-charging-session, cip22-cmd-result). Telemetry bodies use the
 * agent's tag format, so the forwarder publishes them like any device's readings.
 */
import type { BattTelemMessage, CmdAckMessage, FaultMessage, StatusMessage } from '../codec/index.js';
import { encodeValues } from '../../core/record-codec.js';
import { goodValue, type NewRecord, type TagValue } from '../../core/types.js';
import type { Effect } from '../state/machine.js';

export type DataMessage = StatusMessage | BattTelemMessage | CmdAckMessage | FaultMessage;

const STATE_NAMES = ['idle', 'charging', 'fault', 'upgrading'];

function event(
  device: string,
  ts: number,
  type: string,
  severity: 'info' | 'warning' | 'error',
  data: Record<string, unknown>,
): NewRecord {
  return { device, cls: 'event', ts, body: JSON.stringify({ type, severity, data }) };
}

function values(entries: [string, number | string | undefined][]): TagValue[] {
  return entries.flatMap(([tag, v]) => (v === undefined ? [] : [goodValue(tag, v)]));
}

/** The record of one data frame; msg_seq goes along so a consumer can check completeness. */
export function frameRecord(device: string, ts: number, msg: DataMessage): NewRecord {
  switch (msg.type) {
    case 'STATUS':
      return {
        device,
        cls: 'telemetry',
        ts,
        body: encodeValues(
          values([
            ['msg_seq', msg.msgSeq],
            ['state', STATE_NAMES[msg.state] ?? String(msg.state)],
            ['voltage_mv', msg.voltageMv],
            ['current_ma', msg.currentMa],
            ['energy_wh', msg.energyWh],
            ['temperature_c', msg.temperature01C === undefined ? undefined : msg.temperature01C / 10],
            ['fault_code', msg.faultCode],
          ]),
        ),
      };
    case 'BATT_TELEM':
      return {
        device,
        cls: 'telemetry',
        ts,
        body: encodeValues(
          values([
            ['msg_seq', msg.msgSeq],
            ['battery_id', msg.batteryId],
            ['soc_pct', msg.socPct],
            ['soh_pct', msg.sohPct],
            ['cycles', msg.cycles],
            ['bms_sm3', msg.bmsDigest?.toString('hex')],
          ]),
        ),
      };
    case 'CMD_ACK':
      return event(device, ts, 'cip22-cmd-ack', 'info', {
        msgSeq: msg.msgSeq,
        commandId: msg.commandId,
        result: msg.result,
      });
    case 'FAULT':
      return event(device, ts, 'cip22-fault', 'error', {
        msgSeq: msg.msgSeq,
        faultCode: msg.faultCode,
        detail: msg.detail ?? '',
      });
  }
}

/** The record of a state machine effect; `send` effects are not stored (their CMD_ACK is). */
export function effectRecord(device: string, ts: number, effect: Effect): NewRecord | null {
  switch (effect.kind) {
    case 'transition':
      return event(
        device,
        effect.ts,
        'cip22-state',
        effect.to === 'FAULT' || effect.to === 'OFFLINE' ? 'warning' : 'info',
        {
          from: effect.from,
          to: effect.to,
          cause: effect.cause,
        },
      );
    case 'billing':
      return event(device, effect.stopTs, 'cip22-charging-session', 'info', {
        startTs: effect.startTs,
        stopTs: effect.stopTs,
        energyWh: effect.energyWh,
        endCause: effect.endCause,
      });
    case 'result':
      return event(device, ts, 'cip22-cmd-result', effect.ok ? 'info' : 'warning', resultBody(effect));
    case 'send':
      return null;
  }
}

export function resultBody(effect: Extract<Effect, { kind: 'result' }>): Record<string, unknown> {
  return {
    id: effect.requestId,
    command: effect.command,
    ok: effect.ok,
    ...(effect.result === undefined ? {} : { result: effect.result }),
    ...(effect.error === undefined ? {} : { error: effect.error }),
  };
}
