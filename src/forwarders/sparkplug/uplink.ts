/**
 * Sparkplug B 3.0 edge node over the forwarder's connection (docs/sparkplug.md).
 *
 * - Topics `spBv1.0/<group>/<TYPE>/<edge>[/<device>]`. NDEATH is the MQTT will and carries
 *   the connection's `bdSeq` (bdseq.ts), the same as the NBIRTH that follows; `seq` runs
 *   0–255 from each NBIRTH, assigned when a message is published (wire()), so it follows
 *   publish order whatever order messages were built in.
 * - Births are published when needed, right before the data that needs them: NBIRTH and
 *   every known device's DBIRTH at the session start, on a `Node Control/Rebirth` NCMD and
 *   when the primary host comes back online; a DBIRTH before the DDATA of a device not born
 *   in this session (revived after a DDEATH, or with a tag the last birth did not have).
 * - Telemetry records become DDATA with aliases (names only in births), backlog records
 *   with `is_historical`. Births and deaths are QoS 0 as the spec says; DDATA is QoS 1
 *   because the outbox deletes a record only after its PUBACK (a deliberate deviation).
 * - `device-offline` events publish DDEATH; a dead device's all-bad records, and every
 *   event record, go on the JSON topics (QoS 1, PUBACKed) so nothing committed is dropped.
 * - With `primaryHostId`, the drain waits for the host's STATE `{online: true}`; a newer
 *   offline STATE publishes NDEATH and reconnects (spec 3.0): records stay in the outbox
 *   and go out later as historical.
 */
import { createHash } from 'node:crypto';
import type { IPublishPacket, MqttClient } from 'mqtt';
import type { Clock } from '../../core/clock.js';
import type { CommandChannel, InboundMessage, Logger } from '../../core/ports.js';
import type { StoredRecord } from '../../core/types.js';
import { PayloadBuilder, type BuiltMessage } from '../mqtt/payload.js';
import type { Uplink, UplinkSession, WireMessage } from '../mqtt/uplink.js';
import type { BdSeqStore } from './bdseq.js';
import { SparkplugCommandChannel } from './commands.js';
import { commandValue } from './command-value.js';
import { inferDatatype, toMetric, type SparkplugDevice, type StoredValue } from './metrics.js';
import { DataType, decodePayload, encodePayload, toNumber, type DataTypeCode, type Metric } from './proto.js';

export const NAMESPACE = 'spBv1.0';
export const REBIRTH_METRIC = 'Node Control/Rebirth';
export const CONFIG_HASH_METRIC = 'Properties/Config Hash';
export const CONFIG_VERSION_METRIC = 'Properties/Config Version';

export interface SparkplugOptions {
  readonly groupId: string;
  readonly edgeNodeId: string;
  readonly primaryHostId?: string;
  /** For event records and a dead device's records (the JSON topics). */
  readonly json: { readonly topicPrefix: string; readonly site: string; readonly agentId: string };
  readonly batch: { readonly maxRecords: number; readonly maxBytes: number };
  readonly devices: readonly SparkplugDevice[];
}

export interface SparkplugDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly bdSeq: BdSeqStore;
  /** After every NBIRTH: the next poll of every device reports all its tags (report by exception). */
  readonly onRebirth?: () => void;
  /** The active config's hash and version (src/reload): NBIRTH's `Properties/Config …` metrics. */
  readonly config?: () => { readonly hash: string; readonly version: string | null } | undefined;
}

interface DeviceState {
  readonly name: string;
  /** `provisional`: a tag without a configured type, seen only bad so far (type guessed). */
  readonly tags: Map<string, { alias: number; dt: DataTypeCode; provisional: boolean }>;
  /** Latest value and its ts per tag, for births. */
  readonly last: Map<string, { ts: number; value: StoredValue }>;
}

type DcmdHandler = (message: InboundMessage) => void;

export class SparkplugUplink implements Uplink {
  private readonly json: PayloadBuilder;
  private readonly records = new WeakMap<BuiltMessage, readonly StoredRecord[]>();
  private readonly devices = new Map<string, DeviceState>();
  private readonly byAlias = new Map<number, { device: string; tag: string }>();
  private readonly dcmd = new Map<string, DcmdHandler>();
  private readonly configured: ReadonlySet<string>;
  private nextAlias = 1;
  private bdSeq: number;
  private seq = 0;
  private client: MqttClient | undefined;
  private session: UplinkSession | undefined;
  private born = new Set<string>();
  private readonly dead = new Set<string>();
  private hostOnline = false;
  private hostTs = -1;
  private nodeBorn = false;

  constructor(
    private readonly opts: SparkplugOptions,
    private readonly deps: SparkplugDeps,
  ) {
    this.json = new PayloadBuilder({ ...opts.json, ...opts.batch, format: 'json', compression: 'none' });
    this.bdSeq = deps.bdSeq.load() ?? 255; // the first session is then 0
    this.configured = new Set(opts.devices.map((d) => d.name));
    for (const d of opts.devices) {
      const state = this.device(d.name);
      for (const [tag, dt] of d.tags) this.metric(state, tag, dt);
    }
  }

  get ready(): boolean {
    return this.client !== undefined && this.nodeBorn;
  }

  topic(type: string, device?: string): string {
    const base = `${NAMESPACE}/${this.opts.groupId}/${type}/${this.opts.edgeNodeId}`;
    return device === undefined ? base : `${base}/${device}`;
  }

  /** The command router's channel: DCMDs for `{device}/cmd`, `inner` for the rest. */
  commandChannel(inner: CommandChannel): CommandChannel {
    return new SparkplugCommandChannel(this, inner);
  }

  /** Where the router's `{device}/cmd` handlers get DCMDs (sparkplug/commands.ts). */
  onDeviceCommand(device: string, handler: DcmdHandler): () => void {
    this.dcmd.set(device, handler);
    return () => {
      if (this.dcmd.get(device) === handler) this.dcmd.delete(device);
    };
  }

  build(records: readonly StoredRecord[], replay: boolean): BuiltMessage[] {
    const byRowid = new Map<number, StoredRecord>();
    for (const r of records) byRowid.set(r.rowid, r);
    const messages = this.json.build(records, replay);
    for (const m of messages) {
      const list: StoredRecord[] = [];
      for (const rowid of m.rowids) {
        const r = byRowid.get(rowid);
        if (r) list.push(r);
      }
      this.records.set(m, list);
    }
    return messages;
  }

  nextSession(): void {
    this.bdSeq = (this.bdSeq + 1) % 256;
    this.deps.bdSeq.save(this.bdSeq);
  }

  will(): WireMessage {
    return { topic: this.topic('NDEATH'), payload: this.ndeath(), qos: 1, retain: false };
  }

  goodbye(): WireMessage {
    return this.will();
  }

  onConnect(client: MqttClient, session: UplinkSession): void {
    this.client = client;
    this.session = session;
    this.nodeBorn = false;
    this.hostOnline = false;
    client.on('message', this.onMessage);
    const filters = [this.topic('NCMD'), this.topic('DCMD', '+')];
    if (this.opts.primaryHostId) filters.push(`${NAMESPACE}/STATE/${this.opts.primaryHostId}`);
    client.subscribe(filters, { qos: 1 }, (err) => {
      if (err)
        this.deps.logger.warn(
          { code: 'EDGE_ERR_MQTT_SUBSCRIBE', reason: err.message },
          'sparkplug subscribe failed',
        );
    });
    if (!this.opts.primaryHostId) this.birth();
    else
      this.deps.logger.info(
        { host: this.opts.primaryHostId },
        'sparkplug: waiting for the primary host STATE',
      );
  }

  onDisconnect(): void {
    this.client?.removeListener('message', this.onMessage);
    this.client = undefined;
    this.session = undefined;
    this.nodeBorn = false;
  }

  wire(msg: BuiltMessage): WireMessage {
    const records = this.records.get(msg) ?? [];
    const jsonWire: WireMessage = { topic: msg.topic, payload: msg.payload, qos: 1, retain: false };
    if (msg.cls === 'event') {
      for (const r of records) this.lifecycle(r);
      return jsonWire;
    }
    // A device no longer configured (removed, its records still in the outbox) is not born
    // again: its NDEATH at the restart ended it; leftovers go on the JSON topic.
    if (!this.configured.has(msg.device)) return jsonWire;
    const state = this.device(msg.device);
    const bodies = records.map((r) => JSON.parse(r.body) as Record<string, StoredValue>);
    if (this.dead.has(msg.device) && !bodies.some((b) => Object.values(b).some((v) => v.q === 'good')))
      return jsonWire;
    let rebirth = !this.born.has(msg.device);
    for (const body of bodies)
      for (const [tag, value] of Object.entries(body)) {
        const known = state.tags.get(tag);
        if (!known) {
          this.metric(state, tag, inferDatatype(value.v), value.q !== 'good');
          rebirth = true;
        } else if (known.provisional && value.q === 'good') {
          // A tag first seen bad got a guessed type: its first good value says the real one.
          Object.assign(known, { dt: inferDatatype(value.v), provisional: false });
          rebirth = true;
        }
      }
    if (rebirth) this.deviceBirth(state);
    const metrics: Metric[] = [];
    records.forEach((r, i) => {
      for (const [tag, value] of Object.entries(bodies[i] ?? {})) {
        const m = state.tags.get(tag);
        if (!m) continue;
        metrics.push(toMetric(tag, m.alias, m.dt, r.ts, value, { birth: false, historical: msg.replay }));
        const last = state.last.get(tag);
        if (!last || last.ts <= r.ts) state.last.set(tag, { ts: r.ts, value });
      }
    });
    const payload = encodePayload({ timestamp: this.deps.clock.now(), metrics, seq: this.nextSeq() });
    return { topic: this.topic('DDATA', msg.device), payload, qos: 1, retain: false };
  }

  // ---------------------------------------------------------------- births and deaths

  private ndeath(): Buffer {
    return encodePayload({
      timestamp: this.deps.clock.now(),
      metrics: [{ name: 'bdSeq', datatype: DataType.Int64, longValue: this.bdSeq }],
    });
  }

  /** NBIRTH (seq 0) and a DBIRTH of every device that is not dead. */
  private birth(): void {
    const client = this.client;
    if (!client) return;
    this.seq = 0;
    const now = this.deps.clock.now();
    const nbirth = encodePayload({
      timestamp: now,
      seq: 0,
      metrics: [
        { name: 'bdSeq', datatype: DataType.Int64, longValue: this.bdSeq, timestamp: now },
        { name: REBIRTH_METRIC, datatype: DataType.Boolean, booleanValue: false, timestamp: now },
        ...this.configMetrics(now),
      ],
    });
    client.publish(this.topic('NBIRTH'), nbirth, { qos: 0, retain: false });
    this.nodeBorn = true;
    this.born = new Set();
    for (const state of this.devices.values()) if (!this.dead.has(state.name)) this.deviceBirth(state);
    this.deps.onRebirth?.();
  }

  /** Which config the node runs: a host can tell a station that took a push from one that did not. */
  private configMetrics(now: number): Metric[] {
    const info = this.deps.config?.();
    if (!info) return [];
    const string = (name: string, value: string | null): Metric => ({
      name,
      datatype: DataType.String,
      timestamp: now,
      ...(value === null ? { isNull: true } : { stringValue: value }),
    });
    return [string(CONFIG_HASH_METRIC, info.hash), string(CONFIG_VERSION_METRIC, info.version)];
  }

  /**
   * A live reload changed the config on this connection: a rebirth (NBIRTH with the same
   * bdSeq, seq 0, then every DBIRTH) names the new one, as a host-requested rebirth does.
   */
  configChanged(): void {
    if (!this.nodeBorn) return;
    this.deps.logger.info({}, 'sparkplug: config changed, rebirth');
    this.birth();
  }

  private deviceBirth(state: DeviceState): void {
    const client = this.client;
    if (!client) return;
    const now = this.deps.clock.now();
    const metrics: Metric[] = [];
    for (const [tag, m] of state.tags) {
      const last = state.last.get(tag);
      metrics.push(
        toMetric(tag, m.alias, m.dt, last?.ts ?? now, last?.value, { birth: true, historical: false }),
      );
    }
    const payload = encodePayload({ timestamp: now, metrics, seq: this.nextSeq() });
    client.publish(this.topic('DBIRTH', state.name), payload, { qos: 0, retain: false });
    this.born.add(state.name);
    this.dead.delete(state.name);
  }

  private lifecycle(r: StoredRecord): void {
    const type = (JSON.parse(r.body) as { type?: unknown }).type;
    if (type === 'device-offline' && !this.dead.has(r.device) && this.devices.has(r.device)) {
      this.dead.add(r.device);
      if (this.born.delete(r.device) && this.client) {
        const payload = encodePayload({ timestamp: this.deps.clock.now(), seq: this.nextSeq() });
        this.client.publish(this.topic('DDEATH', r.device), payload, { qos: 0, retain: false });
      }
    } else if (type === 'device-online') {
      this.dead.delete(r.device); // its next data is preceded by a DBIRTH
    }
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) % 256;
    return this.seq;
  }

  private device(name: string): DeviceState {
    let state = this.devices.get(name);
    if (!state) {
      state = { name, tags: new Map(), last: new Map() };
      this.devices.set(name, state);
    }
    return state;
  }

  private metric(state: DeviceState, tag: string, dt: DataTypeCode, provisional = false): void {
    if (state.tags.has(tag)) return;
    const alias = this.nextAlias++;
    state.tags.set(tag, { alias, dt, provisional });
    this.byAlias.set(alias, { device: state.name, tag });
  }

  // ---------------------------------------------------------------- inbound

  private readonly onMessage = (topic: string, payload: Buffer, packet: IPublishPacket): void => {
    try {
      if (this.opts.primaryHostId && topic === `${NAMESPACE}/STATE/${this.opts.primaryHostId}`)
        this.onHostState(payload);
      else if (topic === this.topic('NCMD')) this.onNodeCommand(payload);
      else if (topic.startsWith(this.topic('DCMD') + '/'))
        this.onDeviceCommandMessage(topic.slice(this.topic('DCMD').length + 1), payload, packet.retain);
    } catch (err) {
      this.deps.logger.warn({ topic, reason: (err as Error).message }, 'sparkplug: inbound message dropped');
    }
  };

  private onHostState(payload: Buffer): void {
    const state = JSON.parse(payload.toString('utf8')) as { online?: unknown; timestamp?: unknown };
    if (typeof state.online !== 'boolean' || typeof state.timestamp !== 'number') return;
    if (state.timestamp < this.hostTs) return; // a stale STATE (spec: compare timestamps)
    this.hostTs = state.timestamp;
    if (state.online === this.hostOnline) return;
    this.hostOnline = state.online;
    this.deps.logger.info(
      { host: this.opts.primaryHostId, online: state.online },
      'sparkplug: primary host state',
    );
    if (state.online) {
      this.birth();
      this.session?.restart(); // everything stored meanwhile goes out as historical
    } else {
      // Spec 3.0 [tck-id-message-flow-edge-node-birth-publish-phid-offline]: NDEATH, disconnect,
      // start over. The drain holds meanwhile: records stay in the outbox.
      this.nodeBorn = false;
      const session = this.session;
      this.client?.publish(this.topic('NDEATH'), this.ndeath(), { qos: 1, retain: false }, () =>
        session?.end(),
      );
    }
  }

  private onNodeCommand(payload: Buffer): void {
    for (const m of decodePayload(payload).metrics ?? [])
      if (m.name === REBIRTH_METRIC && m.booleanValue === true && this.nodeBorn) {
        this.deps.logger.info({}, 'sparkplug: rebirth requested');
        this.birth();
      }
  }

  private onDeviceCommandMessage(device: string, payload: Buffer, retained: boolean): void {
    const handler = this.dcmd.get(device);
    const state = this.devices.get(device);
    if (!handler || !state) {
      this.deps.logger.warn({ device }, 'sparkplug: DCMD for a device without commands dropped');
      return;
    }
    const decoded = decodePayload(payload);
    const digest = createHash('sha256').update(payload).digest('hex').slice(0, 32);
    const payloadTs = toNumber(decoded.timestamp);
    (decoded.metrics ?? []).forEach((m, i) => {
      const alias = toNumber(m.alias);
      const byAlias = alias === undefined ? undefined : this.byAlias.get(alias);
      const tag = m.name ?? (byAlias?.device === device ? byAlias.tag : `#alias-${alias ?? '?'}`);
      const dt = state.tags.get(tag)?.dt;
      const ts = toNumber(m.timestamp) ?? payloadTs;
      const command = {
        id: `spb-${digest}-${i}`,
        tag,
        value: commandValue(m, dt),
        ...(ts === undefined ? {} : { ts }),
      };
      const topic = this.topic('DCMD', device);
      handler({ topic, payload: Buffer.from(JSON.stringify(command)), retained });
    });
  }
}
