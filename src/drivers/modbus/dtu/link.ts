/**
 * One DTU link: the socket that carries its RTU stream (whichever way it was opened), its
 * liveness (closed after the missed heartbeats) and keepalive reads, its RtuStreamTransport
 * and its status. The hub (hub.ts) decides which socket becomes which link.
 */
import type { Socket } from 'node:net';
import { Backoff } from '../../../core/backoff.js';
import type { Clock, TimerHandle } from '../../../core/clock.js';
import { EdgeError } from '../../../core/errors.js';
import type { Logger } from '../../../core/ports.js';
import { patternBytes, type DtuLinkConfig } from './config.js';
import { RtuStreamTransport, type SlaveLatency, type StreamPort } from '../rtu/stream-transport.js';

export interface DtuHubDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: () => number;
}

export interface DtuStatus {
  readonly mode: 'server' | 'client';
  /** Registered (server) / connected (client): requests can be sent. */
  readonly up: boolean;
  readonly remoteAddress: string | undefined;
  /** Epoch ms of the last up/down change. */
  readonly since: number | undefined;
  readonly lastHeartbeatAt: number | undefined;
  readonly lastRxAt: number | undefined;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly heartbeats: number;
  readonly requests: number;
  readonly responses: number;
  readonly exceptions: number;
  readonly timeouts: number;
  readonly crcErrors: number;
  readonly garbageBytes: number;
  readonly echoes: number;
  readonly rawMatches: number;
  readonly subsetMatches: number;
  readonly linkDownFailures: number;
  /** Per slave id: last and average response time (ms). */
  readonly latency: Record<string, SlaveLatency>;
  /** Server: registrations accepted. Client: connections made. */
  readonly registrations: number;
  /** Server: a new socket with the same registration replaced this link's socket. */
  readonly replaced: number;
  /** Server: a new socket with this registration was refused because the link is live (replaceLive off). */
  readonly takeoverRefused: number;
  /** Server: this registration arrived from a source outside the link's allowFrom. */
  readonly rejectedSource: number;
  readonly disconnects: number;
  /** Closed after missedHeartbeats × heartbeatIntervalMs without a byte. */
  readonly livenessCloses: number;
  readonly keepalives: number;
  readonly keepaliveFailures: number;
  /** Client: failed dials; next attempt in ms when one is scheduled. */
  readonly connectFailures: number;
  readonly nextDialInMs: number | undefined;
}

/** One and a half periods without a byte: a heartbeat is overdue, the DTU itself is silent. */
export const HEARTBEAT_OVERDUE = 1.5;

export class DtuLink implements StreamPort {
  socket: Socket | undefined;
  remote: string | undefined;
  since: number | undefined;
  lastRxMono = -Infinity;
  readonly transport: RtuStreamTransport;
  readonly counters = {
    bytesIn: 0,
    bytesOut: 0,
    registrations: 0,
    replaced: 0,
    takeoverRefused: 0,
    rejectedSource: 0,
    disconnects: 0,
    livenessCloses: 0,
    keepalives: 0,
    keepaliveFailures: 0,
    connectFailures: 0,
  };
  private livenessTimer: TimerHandle | undefined;
  private keepaliveTimer: TimerHandle | undefined;
  readonly backoff: Backoff | undefined;
  dialTimer: TimerHandle | undefined;
  /** Client: closes the dial in flight and cancels its connect timeout. */
  abortDial: (() => void) | undefined;
  nextDialInMs: number | undefined;
  private readonly log: Logger;

  constructor(
    readonly config: DtuLinkConfig,
    private readonly deps: DtuHubDeps,
    echoSuppression: boolean,
  ) {
    this.log = deps.logger.child({ dtu: config.name });
    this.transport = new RtuStreamTransport({
      name: config.name,
      clock: deps.clock,
      port: this,
      heartbeat: config.heartbeat ? patternBytes(config.heartbeat) : undefined,
      echoSuppression: config.echoSuppression ?? echoSuppression,
    });
    this.backoff = config.mode === 'client' ? new Backoff(config.reconnect, deps.random) : undefined;
  }

  get name(): string {
    return this.config.name;
  }

  get up(): boolean {
    return this.socket !== undefined;
  }

  silence(): string | undefined {
    const { heartbeat, heartbeatIntervalMs } = this.config;
    if (!heartbeat || heartbeatIntervalMs <= 0) return undefined;
    const quietMs = this.deps.clock.monotonic() - this.lastRxMono;
    return quietMs > HEARTBEAT_OVERDUE * heartbeatIntervalMs
      ? `silent for ${Math.round(quietMs)} ms, heartbeat every ${heartbeatIntervalMs} ms`
      : undefined;
  }

  write(data: Buffer): void {
    const s = this.socket;
    if (!s) throw new Error('link is down');
    this.counters.bytesOut += data.length;
    s.write(data);
  }

  /** A socket becomes this link's stream; `initial` are bytes already received after the registration. */
  attach(socket: Socket, initial: Buffer): void {
    const old = this.socket;
    if (old) {
      this.counters.replaced++;
      this.log.warn(
        { old: this.remote, remote: remoteOf(socket) },
        'DTU link replaced by a new connection with the same registration',
      );
      this.socket = undefined;
      this.transport.linkDown('replaced by a new connection');
      old.destroy();
    }
    this.socket = socket;
    this.remote = remoteOf(socket);
    this.since = this.deps.clock.now();
    this.counters.registrations++;
    this.transport.linkUp();
    this.touch();
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      this.counters.bytesIn += chunk.length;
      this.touch();
      this.transport.data(chunk, this.lastRxMono);
    });
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'DTU socket error'));
    socket.once('close', () => {
      if (this.socket === socket) this.detach('connection closed');
    });
    this.armLiveness();
    this.armKeepalive();
    this.log.info({ remote: this.remote, mode: this.config.mode }, 'DTU link up');
    if (initial.length > 0) {
      this.counters.bytesIn += initial.length;
      this.transport.data(initial);
    }
  }

  /** The link's socket is gone (or is being closed): requests fail with EDGE_ERR_DTU_LINK_DOWN. */
  detach(why: string): void {
    const s = this.socket;
    if (!s) return;
    this.socket = undefined;
    this.since = this.deps.clock.now();
    this.counters.disconnects++;
    this.livenessTimer?.cancel();
    this.livenessTimer = undefined;
    this.keepaliveTimer?.cancel();
    this.keepaliveTimer = undefined;
    this.transport.linkDown(why);
    s.destroy();
    this.log.warn({ remote: this.remote, why }, 'DTU link down');
  }

  stop(): void {
    this.dialTimer?.cancel();
    this.dialTimer = undefined;
    this.abortDial?.();
    this.abortDial = undefined;
    this.nextDialInMs = undefined;
    this.detach('hub stopped');
    this.transport.dispose();
  }

  /** Once per received chunk: the monotonic time alone (the epoch time is derived when asked). */
  private touch(): void {
    this.lastRxMono = this.deps.clock.monotonic();
  }

  /** Epoch ms of the last byte received, undefined before the first. */
  get lastRxAt(): number | undefined {
    if (this.lastRxMono === -Infinity) return undefined;
    const { clock } = this.deps;
    return Math.round(clock.now() - (clock.monotonic() - this.lastRxMono));
  }

  private get silenceLimitMs(): number {
    return this.config.missedHeartbeats * this.config.heartbeatIntervalMs;
  }

  /** One timer per link, re-armed lazily from the last byte's time (no per-byte timer churn). */
  private armLiveness(): void {
    this.livenessTimer?.cancel();
    this.livenessTimer = undefined;
    const limit = this.silenceLimitMs;
    if (limit <= 0 || !this.socket) return;
    const due = this.lastRxMono + limit - this.deps.clock.monotonic();
    this.livenessTimer = this.deps.clock.setTimeout(
      () => {
        this.livenessTimer = undefined;
        if (!this.socket) return;
        if (this.deps.clock.monotonic() - this.lastRxMono >= limit) {
          this.counters.livenessCloses++;
          this.detach(`no bytes for ${limit} ms (${this.config.missedHeartbeats} missed heartbeats)`);
        } else this.armLiveness();
      },
      Math.max(1, due),
    );
  }

  private armKeepalive(): void {
    this.keepaliveTimer?.cancel();
    this.keepaliveTimer = undefined;
    const k = this.config.keepalive;
    if (!k || !this.socket) return;
    const idle = this.deps.clock.monotonic() - this.transport.lastRequestAt;
    this.keepaliveTimer = this.deps.clock.setTimeout(
      () => {
        this.keepaliveTimer = undefined;
        if (!this.socket) return;
        if (
          !this.transport.busy &&
          this.deps.clock.monotonic() - this.transport.lastRequestAt >= k.intervalMs
        ) {
          this.counters.keepalives++;
          this.transport.keepalive(k.unitId, k.address, k.timeoutMs).catch((err: unknown) => {
            this.counters.keepaliveFailures++;
            this.log.debug(
              { code: err instanceof EdgeError ? err.code : String(err) },
              'DTU keepalive read failed',
            );
          });
        }
        this.armKeepalive();
      },
      Math.max(1, k.intervalMs - Math.max(0, Number.isFinite(idle) ? idle : 0)),
    );
  }

  status(): DtuStatus {
    const t = this.transport.counters;
    return {
      mode: this.config.mode,
      up: this.up,
      remoteAddress: this.remote,
      since: this.since,
      lastHeartbeatAt: t.lastHeartbeatAt,
      lastRxAt: this.lastRxAt,
      bytesIn: this.counters.bytesIn,
      bytesOut: this.counters.bytesOut,
      heartbeats: t.heartbeats,
      requests: t.requests,
      responses: t.responses,
      exceptions: t.exceptions,
      timeouts: t.timeouts,
      crcErrors: t.crcErrors,
      garbageBytes: t.garbageBytes,
      echoes: t.echoes,
      rawMatches: t.rawMatches,
      subsetMatches: t.subsetMatches,
      linkDownFailures: t.linkDownFailures,
      latency: Object.fromEntries([...this.transport.latency].map(([unit, l]) => [String(unit), { ...l }])),
      registrations: this.counters.registrations,
      replaced: this.counters.replaced,
      takeoverRefused: this.counters.takeoverRefused,
      rejectedSource: this.counters.rejectedSource,
      disconnects: this.counters.disconnects,
      livenessCloses: this.counters.livenessCloses,
      keepalives: this.counters.keepalives,
      keepaliveFailures: this.counters.keepaliveFailures,
      connectFailures: this.counters.connectFailures,
      nextDialInMs: this.nextDialInMs,
    };
  }
}

export function remoteOf(socket: Socket): string | undefined {
  return socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : undefined;
}
