/**
 * The seam between the forwarder's drain (outbox → window → PUBACK → ack) and a northbound
 * format that has its own session protocol (Sparkplug B: births, deaths, seq, host state).
 * The forwarder keeps the outbox order and the delete-only-after-PUBACK rule; the uplink
 * only decides what the bytes of each message are, what is said at connect and at death,
 * and whether the drain may run (Sparkplug: not while the primary host is offline).
 */
import type { MqttClient } from 'mqtt';
import type { StoredRecord } from '../../core/types.js';
import { onlineStatus, stoppedStatus, type BuiltMessage } from './payload.js';

/** What is published for one message, or for the will and the graceful goodbye. */
export interface WireMessage {
  readonly topic: string;
  readonly payload: string | Buffer;
  readonly qos: 0 | 1;
  readonly retain: boolean;
}

/** What the uplink may ask of the forwarder's current connection. */
export interface UplinkSession {
  /**
   * Starts the drain over: unacked messages are dropped from the window and everything in
   * the outbox is read again as backlog (replay), then the drain runs if `ready`.
   */
  restart(): void;
  /** Ends this connection (DISCONNECT once in-flight messages are PUBACKed); the forwarder reconnects. */
  end(): void;
}

export interface Uplink {
  /** Groups records into messages, as PayloadBuilder.build (same grouping, same order). */
  build(records: readonly StoredRecord[], replay: boolean): BuiltMessage[];
  /**
   * Called right before `msg` is published (QoS 1, in publish order): returns its topic
   * and bytes, and may first publish on the client what must precede it (a birth).
   */
  wire(msg: BuiltMessage): WireMessage;
  /** A new connection is about to be made: the will of `will()` is for it. */
  nextSession(): void;
  /** The will of the next connection. */
  will(): WireMessage;
  /** The message of a graceful stop (the broker drops the will on a clean DISCONNECT). */
  goodbye(): WireMessage;
  /** CONNACK: subscriptions and births, on this client, before the drain starts. */
  onConnect(client: MqttClient, session: UplinkSession): void;
  onDisconnect(): void;
  /** False holds the drain (records stay in the outbox). */
  readonly ready: boolean;
  /** The active config changed on an open connection (a live reload): births that name it again. */
  configChanged?(): void;
}

/** Where the JSON format's retained status goes, and whose it is. */
export interface StatusIdentity {
  readonly topic: string;
  readonly agent: string;
  readonly site: string;
  /** The active config's hash and version (src/reload), carried by the retained birth message. */
  readonly config?: { readonly hash: string; readonly version: string | null } | undefined;
}

/** At CONNACK: the uplink's session start, or the JSON format's retained online status. */
export function announce(
  client: MqttClient,
  uplink: Uplink | undefined,
  status: StatusIdentity,
  now: number,
  hooks: UplinkSession & { readonly onError: (err: Error) => void },
): void {
  if (uplink) return uplink.onConnect(client, { restart: () => hooks.restart(), end: () => hooks.end() });
  const payload = onlineStatus(status.agent, status.site, now, status.config);
  client.publish(status.topic, payload, { qos: 1, retain: true }, (err) => {
    if (err) hooks.onError(err);
  });
}

/** What a graceful stop publishes (QoS 1): the uplink's goodbye, or the retained offline status. */
export function goodbye(
  uplink: Uplink | undefined,
  status: StatusIdentity,
  now: number,
): Pick<WireMessage, 'topic' | 'payload' | 'retain'> {
  return (
    uplink?.goodbye() ?? {
      topic: status.topic,
      payload: stoppedStatus(status.agent, status.site, now),
      retain: true,
    }
  );
}
