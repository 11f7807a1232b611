/**
 * A DTU link in UDP mode: the TCP link (link.ts: liveness, keepalive, RtuStreamTransport,
 * status) over a DatagramPeer instead of a socket, plus what datagrams need:
 *
 * - Duplicates. An RTU answer has no transaction id, so a network copy of the previous
 *   answer that arrives while the next request of the same shape waits would be taken as
 *   its answer: good values from the wrong registers. A datagram identical to one received
 *   less than `duplicateWindowMs` ago is therefore dropped (counted in `duplicates`), and
 *   the next request waits until that window after the last datagram with data has
 *   passed, so a real answer identical to the previous one (same registers, unchanged
 *   values) always arrives outside the window and is never taken for a copy. A copy later
 *   than the window cannot be told from a real answer by its bytes (README, "Duplicates").
 * - Rebinding. The udp endpoint (udp-endpoint.ts) moves the link to a new source address
 *   (`rebind`) once that source has presented the link's registration and the old source
 *   has fallen silent (takeover.ts).
 */
import type { Socket } from 'node:net';
import type { TimerHandle } from '../../../core/clock.js';
import type { DatagramPeer } from '../../../core/datagram-peer.js';
import type { Logger } from '../../../core/ports.js';
import { patternBytes, type DtuLinkConfig } from './config.js';
import { DtuLink, type DtuHubDeps, type DtuStatus } from './link.js';

export const DEFAULT_DUPLICATE_WINDOW_MS = 100;
/** Datagram contents remembered for the duplicate check, at most (the window bounds it first). */
const MAX_REMEMBERED = 1024;

export interface UdpDtuStatus extends DtuStatus {
  readonly transport: 'udp';
  readonly datagramsIn: number;
  /** Datagrams dropped as copies of one received within duplicateWindowMs. */
  readonly duplicates: number;
  /** Server links: times the link moved to a new source address. */
  readonly rebinds: number;
}

export class UdpDtuLink extends DtuLink {
  peer: DatagramPeer | undefined;
  readonly udp = { datagramsIn: 0, duplicates: 0, rebinds: 0 };
  readonly duplicateWindowMs: number;
  /** Content (latin1) → monotonic time of the first copy, in arrival order. */
  private readonly recent = new Map<string, number>();
  /** Monotonic time of the last datagram that carried data (not a duplicate). */
  private lastDataAt = -Infinity;
  private held: TimerHandle | undefined;
  private readonly heartbeatBytes: Buffer | undefined;
  private readonly udpLog: Logger;

  constructor(
    config: DtuLinkConfig,
    private readonly udpDeps: DtuHubDeps,
    echoSuppression: boolean,
  ) {
    super(config, udpDeps, echoSuppression);
    this.duplicateWindowMs = config.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
    this.heartbeatBytes = config.heartbeat ? patternBytes(config.heartbeat) : undefined;
    this.udpLog = udpDeps.logger.child({ dtu: config.name, transport: 'udp' });
  }

  /** The peer becomes the link (registered / connected). */
  attachPeer(peer: DatagramPeer): void {
    this.peer = peer;
    this.recent.clear();
    this.lastDataAt = -Infinity;
    // The link reads and writes the peer exactly as it would a socket (see DatagramPeer).
    this.attach(peer as unknown as Socket, Buffer.alloc(0));
  }

  /** A datagram from the link's peer; `prefix` bytes of registration were removed from its front. */
  receive(data: Buffer, prefix: number): void {
    const peer = this.peer;
    if (!peer || peer.destroyed || (this.socket as unknown) !== peer) return;
    this.udp.datagramsIn++;
    this.counters.bytesIn += prefix;
    if (data.length > 0 && !this.isHeartbeat(data) && this.isDuplicate(data)) {
      this.udp.duplicates++;
      this.counters.bytesIn += data.length;
      peer.deliver(Buffer.alloc(0)); // still a sign of life
      return;
    }
    peer.deliver(data);
  }

  /** The link's peer now sends from another address (NAT rebinding). */
  rebind(address: string, port: number): void {
    const peer = this.peer;
    if (!peer) return;
    const old = this.remote;
    peer.retarget(address, port);
    this.remote = `${address}:${port}`;
    this.udp.rebinds++;
    this.udpLog.warn({ old, remote: this.remote }, 'DTU link follows its new source address');
  }

  /** Requests wait out the duplicate window after the last data (see the file comment). */
  override write(data: Buffer): void {
    // One request on the wire: a new one replaces a held one whose transaction has ended.
    this.held?.cancel();
    this.held = undefined;
    this.sendAfterWindow(data);
  }

  private sendAfterWindow(data: Buffer): void {
    const wait = this.lastDataAt + this.duplicateWindowMs - this.udpDeps.clock.monotonic();
    if (wait <= 0) return super.write(data);
    // Timers may fire up to a millisecond early against the monotonic clock: check again then.
    this.held = this.udpDeps.clock.setTimeout(() => {
      this.held = undefined;
      // Down meanwhile: the transport has failed the request already.
      if (this.up) this.sendAfterWindow(data);
    }, Math.ceil(wait));
  }

  override detach(why: string): void {
    this.held?.cancel();
    this.held = undefined;
    super.detach(why);
  }

  override status(): UdpDtuStatus {
    return { ...super.status(), transport: 'udp', ...this.udp };
  }

  private isHeartbeat(data: Buffer): boolean {
    return this.heartbeatBytes !== undefined && data.equals(this.heartbeatBytes);
  }

  private isDuplicate(data: Buffer): boolean {
    const now = this.udpDeps.clock.monotonic();
    for (const [key, at] of this.recent) {
      if (now - at < this.duplicateWindowMs && this.recent.size < MAX_REMEMBERED) break;
      this.recent.delete(key);
    }
    const key = data.toString('latin1');
    const seen = this.recent.get(key);
    if (seen !== undefined && now - seen < this.duplicateWindowMs) return true;
    this.recent.set(key, now);
    this.lastDataAt = now;
    return false;
  }
}
