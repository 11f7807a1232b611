/**
 * The command router's channel in Sparkplug mode: `{device}/cmd` subscriptions are served
 * by the device's DCMDs (each metric becomes one command, through the same router and so
 * the same rules: allowWrites, writable tags, freshness from the payload timestamp, the
 * durable id ledger). Results and every other suffix use the plain MQTT channel.
 */
import type { CommandChannel, InboundMessage } from '../../core/ports.js';
import type { SparkplugUplink } from './uplink.js';

const DEVICE_COMMAND = /^(.+)\/cmd$/;

export class SparkplugCommandChannel implements CommandChannel {
  private count = 0;

  constructor(
    private readonly uplink: SparkplugUplink,
    private readonly inner: CommandChannel,
  ) {}

  subscribe(suffix: string, handler: (message: InboundMessage) => void): () => void {
    const device = DEVICE_COMMAND.exec(suffix)?.[1];
    if (device === undefined) return this.inner.subscribe(suffix, handler);
    this.count++;
    const off = this.uplink.onDeviceCommand(device, handler);
    return () => {
      this.count--;
      off();
    };
  }

  publish(suffix: string, payload: string | Buffer): Promise<void> {
    return this.inner.publish(suffix, payload);
  }

  subscriptionCount(): number {
    return this.count;
  }
}
