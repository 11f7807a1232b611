/**
 * Totals of the parts a live reload replaces (the MQTT forwarder, the CIP-22 gateway, the
 * command router): each new part counts from zero, so what the retired ones counted is
 * carried (src/core/carry.ts) and added to it. /status.json then shows totals since the
 * agent started, and /metrics loses nothing across the swap.
 */
import { CarriedCounts, type Counts } from './core/carry.js';
import type { MqttForwarderStats } from './forwarders/mqtt/types.js';

const FORWARDER_TOTALS = [
  'publishedRecords',
  'publishedMessages',
  'connectAttempts',
  'reconnects',
  'oversizedDropped',
] as const satisfies readonly (keyof MqttForwarderStats)[];

/** The gateway's status() fields that count sessions since it started. */
type GatewayStatus = Readonly<Record<string, unknown>>;

function numbers(value: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (typeof value === 'object' && value !== null)
    for (const [key, n] of Object.entries(value)) if (typeof n === 'number') out[key] = n;
  return out;
}

export class PartTotals {
  private readonly carried = new CarriedCounts();

  /** A forwarder stops for a new one: its published, connect and error totals carry over. */
  retireForwarder(stats: MqttForwarderStats): void {
    const totals: Record<string, number> = {};
    for (const field of FORWARDER_TOTALS) totals[field] = stats[field];
    this.carried.retire('forwarder', totals);
    this.carried.retire('forwarder-errors', stats.errorsByCode);
  }

  /** The running forwarder's stats() with the totals of the ones before it. */
  forwarder(stats: MqttForwarderStats | undefined): MqttForwarderStats | undefined {
    if (!stats) return undefined;
    return {
      ...this.carried.plus('forwarder', stats, FORWARDER_TOTALS),
      errorsByCode: this.carried.plus('forwarder-errors', stats.errorsByCode),
    };
  }

  /** forwarder(stats).publishedRecords, from the running forwarder's count alone. */
  publishedRecords(running: number | undefined): number | undefined {
    return running === undefined
      ? undefined
      : running + this.carried.carried('forwarder', 'publishedRecords');
  }

  /** A gateway stops for a new one: its handshake, refusal and pile command counts carry over. */
  retireGateway(status: GatewayStatus, commandRefusals: Counts): void {
    this.carried.retire('pile', commandRefusals);
    this.carried.retire('gateway', { handshakes: status.handshakes as number | undefined });
    this.carried.retire('gateway-counters', numbers(status.counters));
  }

  /** The running gateway's status() with the counts of the ones before it. */
  gateway(status: GatewayStatus | undefined): GatewayStatus | undefined {
    if (!status) return undefined;
    const handshakes = typeof status.handshakes === 'number' ? status.handshakes : 0;
    return {
      ...status,
      ...this.carried.plus('gateway', { handshakes }),
      counters: this.carried.plus('gateway-counters', numbers(status.counters)),
      commandsRefused: this.carried.plus('pile', numbers(status.commandsRefused)),
    };
  }

  /** A command router stops for a new one: its refusals carry over. */
  retireRouter(refused: Counts): void {
    this.carried.retire('device', refused);
  }

  /** Commands refused before they ran since the agent started, by source and reason. */
  refusals(parts: {
    readonly device: Counts | undefined;
    readonly pile: Counts | undefined;
    readonly forwarder: MqttForwarderStats | undefined;
  }): Record<string, Counts> {
    return {
      device: this.carried.plus('device', parts.device ?? {}),
      pile: this.carried.plus('pile', parts.pile ?? {}),
      mqtt: {
        oversized: this.carried.plus('forwarder', {
          oversizedDropped: parts.forwarder?.oversizedDropped ?? 0,
        }).oversizedDropped,
      },
    };
  }
}
