/** Shared pieces of the MQTT forwarder tests. */
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import type { IClientOptions, MqttClient } from 'mqtt';
import { mqttSchema, type MqttConfig } from '../../src/config/sections/mqtt.js';
import type { SecretRef } from '../../src/config-kit/common.js';
import { systemClock, type Clock } from '../../src/core/clock.js';
import type { Logger, OutboxSource } from '../../src/core/ports.js';
import { MqttForwarder } from '../../src/forwarders/mqtt/forwarder.js';
import { once, waitFor } from '../helpers/wait.js';

export const SITE = 's1';
export const AGENT = 'a1';

/** The real config schema, so defaults are the shipped ones. */
export function mqttConfig(input: Record<string, unknown>): MqttConfig {
  // The test brokers listen in plaintext on loopback (TLS tests use mqtts:// anyway).
  return mqttSchema.parse({ allowInsecure: true, ...input });
}

export function testSecrets(ref: SecretRef): string {
  if (typeof ref === 'string') return ref;
  if ('env' in ref) {
    const v = process.env[ref.env];
    if (v === undefined) throw new Error(`env ${ref.env} not set`);
    return v;
  }
  return readFileSync(ref.file, 'utf8').replace(/\r?\n$/, '');
}

import { captureLogger, type LogLine } from '../helpers/logger.js';

export { captureLogger };
export type CapturedLog = LogLine;

export function makeForwarder(
  config: MqttConfig,
  source: OutboxSource,
  extra: { logger?: Logger; clock?: Clock; random?: () => number; readerFile?: string } = {},
): MqttForwarder {
  return new MqttForwarder(config, {
    source,
    ...(extra.readerFile !== undefined ? { readerFile: extra.readerFile } : {}),
    clock: extra.clock ?? systemClock,
    logger: extra.logger ?? captureLogger(),
    random: extra.random ?? Math.random,
    site: SITE,
    agentId: AGENT,
    secrets: testSecrets,
  });
}

/** What the agent publishes, as the tests read it: a record batch or a status (docs/mqtt-payload.schema.json). */
export interface WireMessage {
  readonly v?: number;
  readonly device?: string;
  readonly replay?: boolean;
  readonly records?: ReadonlyArray<WireRecord>;
  readonly agent?: string;
  readonly state?: string;
  readonly reason?: string;
}

export interface WireRecord {
  readonly id: string;
  readonly seq: number;
  readonly ts?: number;
  readonly type?: string;
  readonly severity?: string;
  readonly data?: Record<string, unknown>;
  readonly values?: Record<string, unknown>;
  readonly event?: Record<string, unknown>;
}

export interface Received {
  readonly topic: string;
  readonly text: string;
  /** Parsed payload; {} for an empty one (a cleared retained message). */
  readonly json: WireMessage;
  readonly retain: boolean;
}

/** A test subscriber on `topic` (QoS 1) that keeps everything it receives. */
export class Subscriber {
  readonly messages: Received[] = [];
  private fences = 0;
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      const text = payload.toString('utf8');
      this.messages.push({
        topic,
        text,
        json: text ? (JSON.parse(text) as WireMessage) : {},
        retain: packet.retain,
      });
    });
  }

  static async connect(url: string, topic: string, opts: IClientOptions = {}): Promise<Subscriber> {
    const client = mqtt.connect(url, { reconnectPeriod: 50, ...opts });
    client.on('error', () => undefined);
    const sub = new Subscriber(client);
    if (!client.connected) await once(client, 'connect');
    await client.subscribeAsync(topic, { qos: 1 });
    return sub;
  }

  /**
   * A fence: publishes a marker on `topic` (under this subscription) and resolves once it
   * came back through the broker. Whatever this process had queued before (callbacks,
   * immediates, socket events) has run by then; timers are not covered.
   */
  async fence(topic: string): Promise<void> {
    const marker = JSON.stringify({ fence: ++this.fences });
    await this.client.publishAsync(topic, marker, { qos: 1 });
    await waitFor(`fence ${marker}`, () => this.messages.some((m) => m.text === marker));
  }

  /** Every record id received on data topics, with duplicates. */
  recordIds(): string[] {
    const ids: string[] = [];
    for (const m of this.messages) if (m.json.records) for (const r of m.json.records) ids.push(r.id);
    return ids;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
