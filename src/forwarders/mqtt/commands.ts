/**
 * The CommandChannel over the forwarder's MQTT connection: subscriptions are kept here
 * and (re)made on every connect, because the forwarder uses clean sessions (a command
 * sent while the agent was offline is not delivered late: a stale "start charging" or
 * "write setpoint" executed minutes later is worse than a refused one).
 */
import type { IPublishPacket, MqttClient } from 'mqtt';
import { topicMatches } from '../../core/command-channel.js';
import { EdgeError } from '../../core/errors.js';
import type { CommandChannel, InboundMessage, Logger } from '../../core/ports.js';

interface Subscription {
  readonly filter: string;
  readonly handler: (message: InboundMessage) => void;
}

export class MqttCommandChannel implements CommandChannel {
  private readonly subs = new Set<Subscription>();
  private client: MqttClient | undefined;
  private readonly onMessage = (topic: string, payload: Buffer, packet: IPublishPacket): void =>
    this.dispatch({
      topic,
      payload,
      // The routers refuse retained commands (redelivered at every subscribe) and read the expiry.
      retained: packet.retain,
      ...(packet.properties?.messageExpiryInterval === undefined
        ? {}
        : { expiryIntervalSec: packet.properties.messageExpiryInterval }),
    });

  /** `root` is `{prefix}/{site}`. */
  constructor(
    private readonly root: string,
    private readonly log: Logger,
  ) {}

  subscribe(suffix: string, handler: (message: InboundMessage) => void): () => void {
    const sub: Subscription = { filter: `${this.root}/${suffix}`, handler };
    this.subs.add(sub);
    this.client?.subscribe(sub.filter, { qos: 1 }, (err) => this.onSubscribed(sub.filter, err));
    return () => {
      this.subs.delete(sub);
      const stillWanted = [...this.subs].some((s) => s.filter === sub.filter);
      if (!stillWanted) this.client?.unsubscribe(sub.filter);
    };
  }

  publish(suffix: string, payload: string | Buffer): Promise<void> {
    const client = this.client;
    const topic = `${this.root}/${suffix}`;
    if (!client)
      return Promise.reject(new EdgeError('EDGE_ERR_MQTT_PUBLISH', `not connected: ${topic} not published`));
    return new Promise((resolve, reject) => {
      client.publish(topic, payload, { qos: 1 }, (err, packet) => {
        const rc = (packet as { reasonCode?: number } | undefined)?.reasonCode;
        if (err || (rc !== undefined && rc >= 0x80)) {
          reject(
            new EdgeError(
              'EDGE_ERR_MQTT_PUBLISH',
              `${topic}: ${err?.message ?? `PUBACK reason code 0x${(rc as number).toString(16)}`}`,
            ),
          );
        } else resolve();
      });
    });
  }

  /** Called by the forwarder once connected: subscribes every filter on the new client. */
  attach(client: MqttClient): void {
    this.detach();
    this.client = client;
    client.on('message', this.onMessage);
    const filters = new Set([...this.subs].map((s) => s.filter));
    for (const filter of filters)
      client.subscribe(filter, { qos: 1 }, (err) => this.onSubscribed(filter, err));
  }

  /** Called by the forwarder when the connection is dropped. */
  detach(): void {
    this.client?.removeListener('message', this.onMessage);
    this.client = undefined;
  }

  subscriptionCount(): number {
    return this.subs.size;
  }

  private onSubscribed(filter: string, err: Error | null | undefined): void {
    if (err)
      this.log.warn(
        { code: 'EDGE_ERR_MQTT_SUBSCRIBE', topic: filter, reason: err.message },
        'mqtt subscribe failed',
      );
  }

  private dispatch(message: InboundMessage): void {
    const topic = message.topic;
    for (const sub of [...this.subs]) {
      if (!topicMatches(sub.filter, topic)) continue;
      try {
        sub.handler(message);
      } catch (err) {
        // A handler bug must not take the broker connection down with it.
        this.log.error(
          { code: 'EDGE_ERR_MQTT_SUBSCRIBE', topic, reason: (err as Error).message },
          'command handler threw',
        );
      }
    }
  }
}
