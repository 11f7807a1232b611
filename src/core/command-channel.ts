/**
 * An in-process CommandChannel: what tests and the demo use where no broker is wanted,
 * and the reference for the MQTT implementation's topic matching.
 */
import { EdgeError } from './errors.js';
import type { CommandChannel, InboundMessage } from './ports.js';

/** MQTT topic filter matching (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

interface Subscription {
  readonly filter: string;
  readonly handler: (message: InboundMessage) => void;
}

export class MemoryCommandChannel implements CommandChannel {
  readonly published: { topic: string; payload: Buffer }[] = [];
  online = true;
  private readonly subs = new Set<Subscription>();
  private readonly publishListeners = new Set<(topic: string, payload: Buffer) => void>();

  /** `root` is `{prefix}/{site}`. */
  constructor(private readonly root: string) {}

  subscribe(suffix: string, handler: (message: InboundMessage) => void): () => void {
    const sub = { filter: `${this.root}/${suffix}`, handler };
    this.subs.add(sub);
    return () => this.subs.delete(sub);
  }

  async publish(suffix: string, payload: string | Buffer): Promise<void> {
    if (!this.online) throw new EdgeError('EDGE_ERR_MQTT_PUBLISH', 'command channel offline');
    const topic = `${this.root}/${suffix}`;
    const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
    this.published.push({ topic, payload: bytes });
    for (const listener of this.publishListeners) listener(topic, bytes);
  }

  /** Delivers a message as the broker would; handler errors are the handler's business. */
  inject(
    suffix: string,
    payload: string | Buffer,
    flags: Pick<InboundMessage, 'retained' | 'expiryIntervalSec'> = {},
  ): void {
    const topic = `${this.root}/${suffix}`;
    const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
    for (const sub of [...this.subs])
      if (topicMatches(sub.filter, topic)) sub.handler({ topic, payload: bytes, ...flags });
  }

  /** Calls `listener` for every publish; returns an unsubscribe. */
  onPublish(listener: (topic: string, payload: Buffer) => void): () => void {
    this.publishListeners.add(listener);
    return () => this.publishListeners.delete(listener);
  }

  subscriptionCount(): number {
    return this.subs.size;
  }
}
