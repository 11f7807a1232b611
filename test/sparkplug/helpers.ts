/**
 * Sparkplug tests: an independent decoder (protoc with Tahu's .proto, not the protobufjs
 * that encoded), a subscriber that records every Sparkplug message, a TCP proxy whose
 * connections can be cut (the broker then publishes the will) and the edge node under test.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { systemClock } from '../../src/core/clock.js';
import type { OutboxSource } from '../../src/core/ports.js';
import { MqttForwarder } from '../../src/forwarders/mqtt/forwarder.js';
import { memoryBdSeqStore, type BdSeqStore } from '../../src/forwarders/sparkplug/bdseq.js';
import type { SparkplugDevice } from '../../src/forwarders/sparkplug/metrics.js';
import { DataType, type DataTypeCode } from '../../src/forwarders/sparkplug/proto.js';
import { SparkplugUplink } from '../../src/forwarders/sparkplug/uplink.js';
import { captureLogger } from '../helpers/logger.js';
import { once, waitFor } from '../helpers/wait.js';
import { AGENT, SITE, mqttConfig, testSecrets } from '../mqtt/util.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const PROTO_DIR = join(root, 'src/forwarders/sparkplug');
export const PROTOC = process.env.PROTOC ?? '/usr/bin/protoc';
export const GROUP = 'g1';
export const EDGE = 'e1';

/** Why protoc cannot be used (the test skips, printing it), or false. On CI it is required. */
export function protocMissing(): string | false {
  if (existsSync(PROTOC)) return false;
  const reason = `${PROTOC} not found (Debian protobuf-compiler; scripts/setup.sh --test installs it)`;
  if (process.env.CI === 'true') throw new Error(reason);
  process.stdout.write(`# sparkplug protoc test skipped: ${reason}\n`);
  return reason;
}

/** protoc --decode org.eclipse.tahu.protobuf.Payload: the text format of the message. */
export function protocDecode(bytes: Buffer): string {
  return execFileSync(
    PROTOC,
    [`--proto_path=${PROTO_DIR}`, '--decode=org.eclipse.tahu.protobuf.Payload', 'sparkplug_b.proto'],
    { input: bytes },
  ).toString('utf8');
}

/** protoc's text, or a marker for bytes protoc refuses (garbage a test sent on purpose). */
function decodeOrMark(bytes: Buffer): string {
  try {
    return protocDecode(bytes);
  } catch {
    return `<protoc refused ${bytes.length} bytes>`;
  }
}

/** protoc --encode: a payload written in protobuf text format, encoded without protobufjs. */
export function protocEncode(text: string): Buffer {
  return execFileSync(
    PROTOC,
    [`--proto_path=${PROTO_DIR}`, '--encode=org.eclipse.tahu.protobuf.Payload', 'sparkplug_b.proto'],
    { input: text },
  );
}

/** The top-level `seq` of a decoded payload (metrics are indented, so `^seq:` is the payload's). */
export function seqOf(text: string): number | undefined {
  const m = /^seq: (\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** The long_value of the bdSeq metric. */
export function bdSeqOf(text: string): number | undefined {
  const m = /name: "bdSeq"[\s\S]*?long_value: (\d+)/.exec(text);
  return m ? Number(m[1]) : undefined;
}

export interface SpMessage {
  readonly topic: string;
  readonly type: string;
  readonly device: string | undefined;
  readonly bytes: Buffer;
  /** protoc's text for spBv1.0 messages; the UTF-8 text for others. */
  readonly text: string;
}

/** A subscriber to spBv1.0/# and the JSON topics, decoding every Sparkplug message with protoc. */
export class Subscriber {
  readonly messages: SpMessage[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, bytes) => {
      const parts = topic.split('/');
      const sparkplug = parts[0] === 'spBv1.0' && parts[1] !== 'STATE';
      let text: string | undefined;
      // Decoded when first read, not here: a protoc child per message in the 'message'
      // handler blocked this process ~15 ms a message (seconds for the 300 DDATA of the
      // lifecycle test), so the waits' deadlines measured protoc under the host's load
      // rather than what the broker delivered.
      this.messages.push({
        topic,
        type: sparkplug ? (parts[2] ?? '') : 'json',
        device: sparkplug ? parts[4] : undefined,
        bytes,
        get text(): string {
          return (text ??= sparkplug ? decodeOrMark(bytes) : bytes.toString('utf8'));
        },
      });
    });
  }

  static async start(url: string, group = GROUP): Promise<Subscriber> {
    const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0 });
    await once(client, 'connect');
    await client.subscribeAsync([`spBv1.0/${group}/#`, 'edge/#'], { qos: 1 });
    return new Subscriber(client);
  }

  of(type: string, device?: string): SpMessage[] {
    return this.messages.filter((m) => m.type === type && (device === undefined || m.device === device));
  }

  async waitFor(what: string, probe: (s: this) => boolean, timeoutMs = 10_000): Promise<void> {
    await waitFor(what, () => probe(this), timeoutMs);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** A TCP proxy in front of the broker; cut() destroys every connection (no DISCONNECT: the will fires). */
export class CutProxy {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly sockets: Set<Socket>,
  ) {}

  static async start(targetPort: number): Promise<CutProxy> {
    const sockets = new Set<Socket>();
    const server = createServer((inbound) => {
      const outbound = connect({ host: '127.0.0.1', port: targetPort });
      for (const s of [inbound, outbound]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    return new CutProxy(server, (server.address() as { port: number }).port, sockets);
  }

  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }
}

export const DEVICES: readonly SparkplugDevice[] = [
  {
    name: 'd1',
    tags: new Map<string, DataTypeCode>([
      ['flow.m3h', DataType.Double],
      ['pressure.bar', DataType.Float],
      ['pump.running', DataType.Boolean],
      ['temp.c', DataType.Int16],
    ]),
  },
  { name: 'd2', tags: new Map<string, DataTypeCode>([['temp.c', DataType.Int16]]) },
];

export interface EdgeNode {
  readonly uplink: SparkplugUplink;
  readonly forwarder: MqttForwarder;
}

export function edgeNode(
  url: string,
  source: OutboxSource,
  opts: { primaryHostId?: string; bdSeq?: BdSeqStore; maxRecords?: number } = {},
): EdgeNode {
  const config = mqttConfig({
    url,
    topicPrefix: 'edge',
    payload: { format: 'sparkplug' },
    batch: { maxRecords: opts.maxRecords ?? 200 },
    reconnect: { initialMs: 20, maxMs: 200 },
  });
  const logger = captureLogger();
  const uplink = new SparkplugUplink(
    {
      groupId: GROUP,
      edgeNodeId: EDGE,
      ...(opts.primaryHostId ? { primaryHostId: opts.primaryHostId } : {}),
      json: { topicPrefix: 'edge', site: SITE, agentId: AGENT },
      batch: config.batch,
      devices: DEVICES,
    },
    { clock: systemClock, logger, bdSeq: opts.bdSeq ?? memoryBdSeqStore() },
  );
  const forwarder = new MqttForwarder(config, {
    source,
    clock: systemClock,
    logger,
    random: () => 0.5,
    site: SITE,
    agentId: AGENT,
    secrets: testSecrets,
    uplink,
  });
  return { uplink, forwarder };
}
