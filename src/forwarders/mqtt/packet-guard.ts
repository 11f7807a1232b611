/**
 * A bound on inbound MQTT packets that does not rely on the broker. MQTT 5 clients
 * announce a maximum packet size in CONNECT and a compliant broker never sends more, but
 * MQTT 3.1.1 has no such field and mqtt.js buffers a whole packet before parsing it: one
 * retained 16 MiB message on a command topic costs that much heap at every connect.
 *
 * The guard reads only the fixed header of each packet (type byte and Remaining Length)
 * off the socket, beside mqtt.js's own parser, and destroys the socket as soon as a
 * header announces more than the limit, so at most one socket chunk of the body is ever
 * buffered.
 */
import type { Duplex } from 'node:stream';
import type { MqttClient } from 'mqtt';

export interface OversizedPacket {
  /** MQTT control packet type (3 = PUBLISH). */
  readonly type: number;
  /** Total packet size announced by the header, in bytes. */
  readonly bytes: number;
}

/** Byte-stream state machine over MQTT fixed headers. */
export class PacketSizeGuard {
  private state: 'type' | 'length' | 'body' = 'type';
  private type = 0;
  private length = 0;
  private multiplier = 1;
  private headerBytes = 0;
  private remaining = 0;
  private tripped: OversizedPacket | undefined;

  constructor(private readonly maxBytes: number) {}

  /** Feeds received bytes; returns the oversized packet once one is announced. */
  feed(chunk: Buffer): OversizedPacket | undefined {
    let i = 0;
    while (i < chunk.length && this.tripped === undefined) {
      if (this.state === 'body') {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.state = 'type';
        continue;
      }
      const byte = chunk.readUInt8(i++);
      if (this.state === 'type') {
        this.type = byte >> 4;
        this.length = 0;
        this.multiplier = 1;
        this.headerBytes = 1;
        this.state = 'length';
        continue;
      }
      this.headerBytes++;
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      if (byte & 0x80) {
        // A fifth length byte is malformed (mqtt-packet rejects it too): treat it as oversized.
        if (this.headerBytes >= 5) this.tripped = { type: this.type, bytes: Number.POSITIVE_INFINITY };
        continue;
      }
      const total = this.headerBytes + this.length;
      if (total > this.maxBytes) this.tripped = { type: this.type, bytes: total };
      this.remaining = this.length;
      this.state = this.remaining === 0 ? 'type' : 'body';
    }
    return this.tripped;
  }
}

/**
 * Watches `stream` (before mqtt.js pipes it into its parser: the listener added first
 * sees each chunk first) and destroys it when a packet over `maxBytes` is announced.
 */
export function guardStream(
  stream: Duplex,
  maxBytes: number,
  onOversized: (packet: OversizedPacket) => void,
): void {
  const guard = new PacketSizeGuard(maxBytes);
  let reported = false;
  stream.on('data', (chunk: Buffer) => {
    if (reported) return;
    const packet = guard.feed(chunk);
    if (packet === undefined) return;
    reported = true;
    stream.destroy();
    onOversized(packet);
  });
}

/**
 * Guards every socket `client` builds. The client must be created with `manualConnect`
 * (mqtt.js builds its stream in connect()); mqtt.js has no public hook for this, so the
 * private `streamBuilder` is wrapped, and a missing one fails loudly rather than unguarded.
 */
export function guardClient(
  client: MqttClient,
  maxBytes: number,
  onOversized: (packet: OversizedPacket) => void,
): void {
  const internals = client as unknown as { streamBuilder?: (c: MqttClient) => Duplex };
  const build = internals.streamBuilder;
  if (typeof build !== 'function') throw new Error('mqtt.js internals changed: no streamBuilder to guard');
  internals.streamBuilder = (c) => {
    const stream = build(c);
    guardStream(stream, maxBytes, onOversized);
    return stream;
  };
}
