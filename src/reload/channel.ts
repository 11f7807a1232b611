/**
 * A command channel that outlives the forwarder under it: the routers, the OTA and config
 * handlers and the CIP-22 gateway subscribe once, and a live MQTT change (a new forwarder,
 * maybe another broker) moves every subscription to the new connection.
 */
import { EdgeError } from '../core/errors.js';
import type { CommandChannel, InboundMessage } from '../core/ports.js';

interface Subscription {
  readonly suffix: string;
  readonly handler: (message: InboundMessage) => void;
  off: (() => void) | undefined;
}

export class SwitchableChannel implements CommandChannel {
  private target: CommandChannel | undefined;
  private readonly subs = new Set<Subscription>();

  subscribe(suffix: string, handler: (message: InboundMessage) => void): () => void {
    const sub: Subscription = { suffix, handler, off: this.target?.subscribe(suffix, handler) };
    this.subs.add(sub);
    return () => {
      sub.off?.();
      this.subs.delete(sub);
    };
  }

  publish(suffix: string, payload: string | Buffer): Promise<void> {
    if (!this.target)
      return Promise.reject(
        new EdgeError('EDGE_ERR_MQTT_PUBLISH', `no broker connection: ${suffix} not published`),
      );
    return this.target.publish(suffix, payload);
  }

  /** Moves every subscription to `target` (undefined: none until the next switch). */
  switchTo(target: CommandChannel | undefined): void {
    for (const sub of this.subs) {
      sub.off?.();
      sub.off = target?.subscribe(sub.suffix, sub.handler);
    }
    this.target = target;
  }
}
