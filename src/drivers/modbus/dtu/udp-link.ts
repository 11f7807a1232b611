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
 *   values) always arrives outside the window and is never taken for a copy. A whole
 *   answer equal to the previous one while a different request waits is held back until
 *   a real answer shows it was a late copy, and if none comes the request is asked again
 *   rather than the suspect taken for its answer (holdSuspect); README, "Duplicates".
 * - Rebinding. The udp endpoint (udp-endpoint.ts) moves the link to a new source address
 *   (`rebind`) once that source has presented the link's registration and the old source
 *   has fallen silent (takeover.ts).
 */
import type { Socket } from 'node:net';
import type { TimerHandle } from '../../../core/clock.js';
import type { DatagramPeer } from '../../../core/datagram-peer.js';
import type { Logger } from '../../../core/ports.js';
import { crcValid } from '../rtu/crc.js';
import { patternBytes, type DtuLinkConfig } from './config.js';
import { DtuLink, type DtuHubDeps, type DtuStatus } from './link.js';

export const DEFAULT_DUPLICATE_WINDOW_MS = 100;
/** Datagram contents remembered for the duplicate check, at most (the window bounds it first). */
const MAX_REMEMBERED = 1024;
/** Suspects wait for a real answer this many times the unit's average answer time (at least the window). */
const SUSPECT_LATENCIES = 1.5;

interface Exchange {
  readonly request: Buffer;
  readonly answer: Set<string>;
}

export interface UdpDtuStatus extends DtuStatus {
  readonly transport: 'udp';
  readonly datagramsIn: number;
  /** Datagrams dropped as copies of one received within duplicateWindowMs. */
  readonly duplicates: number;
  /** Server links: times the link moved to a new source address. */
  readonly rebinds: number;
  /** Requests asked again because their only answer was byte-identical to the previous answer. */
  readonly reasked: number;
}

export class UdpDtuLink extends DtuLink {
  peer: DatagramPeer | undefined;
  readonly udp = { datagramsIn: 0, duplicates: 0, rebinds: 0, reasked: 0 };
  readonly duplicateWindowMs: number;
  /** Content (latin1) → monotonic time of the first copy, in arrival order. */
  private readonly recent = new Map<string, number>();
  /** Monotonic time of the last datagram that carried data (not a duplicate). */
  private lastDataAt = -Infinity;
  private held: TimerHandle | undefined;
  /** The request last written and the data datagrams received since; the one before it. */
  private exchange: Exchange | undefined;
  private previous: Exchange | undefined;
  /** A datagram equal to the previous answer, held back while it may be a late copy. */
  private suspect: { data: Buffer; key: string; timer: TimerHandle } | undefined;
  /** The request was asked again after a suspect: what comes now answers it (no second hold). */
  private reasked = false;
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
    if (data.length === 0 || this.isHeartbeat(data)) return peer.deliver(data);
    if (this.isDuplicate(data)) return this.drop(peer, data);
    const key = data.toString('latin1');
    const s = this.suspect;
    if (s) {
      // Something else came: the held one was the copy. The same bytes again: one is real.
      this.suspect = undefined;
      s.timer.cancel();
      this.drop(peer, s.data);
    } else if (!this.reasked && this.isStaleCopy(data, key)) {
      return this.holdSuspect(peer, data, key);
    }
    this.exchange?.answer.add(key);
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
    this.dropSuspect();
    this.reasked = false;
    this.previous = this.exchange;
    this.exchange = { request: Buffer.from(data), answer: new Set() };
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
    this.dropSuspect();
    this.reasked = false;
    this.exchange = undefined;
    this.previous = undefined;
    super.detach(why);
  }

  override status(): UdpDtuStatus {
    return { ...super.status(), transport: 'udp', ...this.udp };
  }

  /**
   * Byte-identical to a datagram of the previous answer while a different request waits:
   * either a copy later than the window (the previous answer, wrong registers) or the real
   * answer that happens to read the same (two blocks that both hold zeros). Only what
   * follows can tell: see holdSuspect.
   */
  private isStaleCopy(data: Buffer, key: string): boolean {
    const prev = this.previous;
    const cur = this.exchange;
    if (!prev || !cur || prev.request.equals(cur.request) || !prev.answer.has(key)) return false;
    // Only a whole answer on its own can be taken for one; a piece of a split answer (its
    // header is the same for every answer of that shape) is left to the framer and its CRC.
    return data.length >= 5 && data[0] === cur.request[0] && crcValid(data, 0, data.length);
  }

  /**
   * Holds a suspect back for 1.5 × the unit's average answer time (at least the window):
   * a datagram with data arriving meanwhile shows it was the copy (dropped, counted). If
   * nothing comes, the suspect is not taken for the answer (its real answer may be lost, and
   * the copy's registers are another request's): it is dropped and the request asked again,
   * once; whatever answers that is the answer (equal blocks read the same again). Only a
   * second late copy of the previous answer in that moment could still pass (README,
   * "Duplicates").
   */
  private holdSuspect(peer: DatagramPeer, data: Buffer, key: string): void {
    peer.deliver(Buffer.alloc(0)); // a sign of life meanwhile
    const unit = this.exchange?.request[0];
    const avg = unit === undefined ? undefined : this.transport.latency.get(unit)?.avgMs;
    const waitMs = Math.ceil(Math.max(this.duplicateWindowMs, SUSPECT_LATENCIES * (avg ?? 0)));
    const timer = this.udpDeps.clock.setTimeout(() => {
      if (this.suspect?.timer !== timer) return;
      this.suspect = undefined;
      const request = this.exchange?.request;
      if (this.peer !== peer || peer.destroyed || !request) return;
      this.udp.reasked++;
      this.reasked = true;
      this.sendAfterWindow(request);
    }, waitMs);
    this.suspect = { data, key, timer };
  }

  private dropSuspect(): void {
    const s = this.suspect;
    if (!s) return;
    this.suspect = undefined;
    s.timer.cancel();
    this.udp.duplicates++;
    this.counters.bytesIn += s.data.length;
  }

  /** A copy: counted, its bytes too, and a sign of life; never data. */
  private drop(peer: DatagramPeer, data: Buffer): void {
    this.udp.duplicates++;
    this.counters.bytesIn += data.length;
    peer.deliver(Buffer.alloc(0));
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
