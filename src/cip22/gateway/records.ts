/**
 * What the gateway stores in the outbox, with the pile as device: data frames as telemetry
 * (STATUS, BATT_TELEM) or events (CMD_ACK, FAULT), and the state machine's effects as
 * events (cip22-state, cip22-charging-session, cip22-cmd-result). Telemetry bodies use the
 * agent's tag format, so the forwarder publishes them like any device's readings.
 */
import type { BattTelemMessage, CmdAckMessage, FaultMessage, StatusMessage } from '../codec/index.js';
import type { NewRecord } from '../../core/types.js';
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

/**
 * A telemetry body of good values, exactly what core/record-codec encodeValues gives for
 * them, built as one string: a frame's body cost 8 tuples, 7 TagValues and 8 objects
 * before its JSON.stringify. A field the frame does not carry is left out.
 */
class GoodBody {
  private text = '';

  add(tag: string, value: number | string | undefined): this {
    if (value !== undefined)
      this.text += `${this.text === '' ? '' : ','}"${tag}":{"v":${JSON.stringify(value)},"q":"good"}`;
    return this;
  }

  end(): string {
    return `{${this.text}}`;
  }
}

/** The record of one data frame; msg_seq goes along so a consumer can check completeness. */
export function frameRecord(device: string, ts: number, msg: DataMessage): NewRecord {
  switch (msg.type) {
    case 'STATUS':
      return {
        device,
        cls: 'telemetry',
        ts,
        body: new GoodBody()
          .add('msg_seq', msg.msgSeq)
          .add('state', STATE_NAMES[msg.state] ?? String(msg.state))
          .add('voltage_mv', msg.voltageMv)
          .add('current_ma', msg.currentMa)
          .add('energy_wh', msg.energyWh)
          .add('temperature_c', msg.temperature01C === undefined ? undefined : msg.temperature01C / 10)
          .add('fault_code', msg.faultCode)
          .end(),
      };
    case 'BATT_TELEM':
      return {
        device,
        cls: 'telemetry',
        ts,
        body: new GoodBody()
          .add('msg_seq', msg.msgSeq)
          .add('battery_id', msg.batteryId)
          .add('soc_pct', msg.socPct)
          .add('soh_pct', msg.sohPct)
          .add('cycles', msg.cycles)
          .add('bms_sm3', msg.bmsDigest?.toString('hex'))
          .end(),
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

/** The records of a new data frame: its own, then those of the effects it caused. */
export function withEffects(
  record: NewRecord,
  device: string,
  ts: number,
  effects: readonly Effect[],
): NewRecord[] {
  const out = [record];
  for (const e of effects) {
    const r = effectRecord(device, ts, e);
    if (r) out.push(r);
  }
  return out;
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
