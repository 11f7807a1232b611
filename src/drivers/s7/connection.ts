/**
 * One ISO-on-TCP connection to a PLC: TCP connect (keepalive on), COTP connection
 * request, S7 setup communication (PDU size, parallel jobs), then requests matched to
 * answers by PDU reference, at most `maxJobs` in flight. Every socket handler is guarded:
 * a peer's bytes can end this connection with a stable code, never throw out of it.
 * A connection is used once: after close() (or a loss) the owner opens a new one, so
 * no listener, timer or queue survives a reconnect.
 */
import { connect, type Socket } from 'node:net';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { EdgeError, type EdgeErrorCode } from '../../core/errors.js';
import {
  buildConnectRequest,
  buildSetupRequest,
  framePduRef,
  parseAck,
  parseConnectReply,
  parseSetupReply,
  TpktReader,
  type AckData,
} from './protocol.js';
// the codes this module names are registered there (their natures, link-down flags)
import './error-codes.js';

export interface ConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly localTsap: number;
  readonly remoteTsap: number;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** TCP keepalive idle time; 0 turns it off. */
  readonly keepAliveMs: number;
  /** PDU size proposed in the setup; the PLC may answer with less. */
  readonly pduSize: number;
  readonly maxJobs: number;
  /** Consecutive request timeouts after which the link is taken as dead. */
  readonly deadAfterTimeouts: number;
  readonly clock: Clock;
}

interface Pending {
  readonly frame: Buffer;
  readonly timeoutMs: number;
  readonly resolve: (ack: AckData) => void;
  readonly reject: (error: EdgeError) => void;
  timer?: TimerHandle;
}

type Phase = 'tcp' | 'cotp' | 'setup' | 'ready' | 'closed';

const noop = (): void => undefined;

export class S7Connection {
  private socket: Socket | undefined;
  private phase: Phase = 'tcp';
  private readonly reader = new TpktReader();
  private readonly inflight = new Map<number, Pending>();
  private readonly queue: { build: (ref: number) => Buffer; pending: Omit<Pending, 'frame'> }[] = [];
  private nextRef = 0;
  private consecutiveTimeouts = 0;
  private handshakeTimer: TimerHandle | undefined;
  private settleOpen: { resolve: () => void; reject: (e: EdgeError) => void } | undefined;
  private closeListener: (reason: EdgeError) => void = noop;
  pduSize = 0;
  maxJobs = 1;
  lateFrames = 0;

  private constructor(private readonly options: ConnectionOptions) {}

  /** Connects and negotiates; rejects with an EdgeError naming the failed phase. */
  static open(options: ConnectionOptions): Promise<S7Connection> {
    const conn = new S7Connection(options);
    return new Promise<S7Connection>((resolve, reject) => {
      conn.settleOpen = { resolve: () => resolve(conn), reject };
      conn.start();
    });
  }

  get open(): boolean {
    return this.phase === 'ready';
  }

  get inFlight(): number {
    return this.inflight.size;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Called once when an open connection is lost (not after close()). */
  onClose(listener: (reason: EdgeError) => void): void {
    this.closeListener = listener;
  }

  /**
   * Sends one request built for its PDU reference and resolves with the matching
   * answer. Rejects with EDGE_ERR_S7_TIMEOUT or EDGE_ERR_S7_DISCONNECTED; a timed-out
   * request is never sent again.
   */
  request(build: (pduRef: number) => Buffer, timeoutMs = this.options.requestTimeoutMs): Promise<AckData> {
    if (this.phase !== 'ready')
      return Promise.reject(this.error('EDGE_ERR_S7_DISCONNECTED', 'connection is not open'));
    return new Promise<AckData>((resolve, reject) => {
      this.queue.push({ build, pending: { resolve, reject, timeoutMs } });
      this.pump();
    });
  }

  /** Ends the connection; pending requests fail with EDGE_ERR_S7_DISCONNECTED. Idempotent. */
  close(): void {
    this.shutdown(this.error('EDGE_ERR_S7_DISCONNECTED', 'connection closed'), false);
  }

  private start(): void {
    const { host, port, keepAliveMs, connectTimeoutMs, clock } = this.options;
    this.handshakeTimer = clock.setTimeout(() => this.handshakeTimeout(), connectTimeoutMs);
    const socket = connect({ host, port, noDelay: true });
    this.socket = socket;
    if (keepAliveMs > 0) socket.setKeepAlive(true, keepAliveMs);
    socket.on('connect', () => this.guard(() => this.onConnect()));
    socket.on('data', (chunk: Buffer) => this.guard(() => this.onData(chunk)));
    socket.on('error', (err: NodeJS.ErrnoException) => this.guard(() => this.onSocketError(err)));
    socket.on('close', () => this.guard(() => this.onSocketClose()));
  }

  /** Nothing a peer sends may escape a socket handler. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (thrown) {
      const message = thrown instanceof Error ? thrown.message : String(thrown);
      this.shutdown(
        this.error('EDGE_ERR_S7_BAD_RESPONSE', `unexpected failure handling PLC data: ${message}`, thrown),
        true,
      );
    }
  }

  private onConnect(): void {
    this.phase = 'cotp';
    this.socket!.write(buildConnectRequest(this.options.localTsap, this.options.remoteTsap));
  }

  private onData(chunk: Buffer): void {
    const frames = this.reader.push(chunk);
    if (!frames.ok)
      return this.shutdown(
        this.error('EDGE_ERR_S7_BAD_RESPONSE', `stream out of step: ${frames.reason}`),
        true,
      );
    for (const frame of frames.value) {
      if (this.phase === 'closed') return;
      this.onFrame(frame);
    }
  }

  private onFrame(frame: Buffer): void {
    if (this.phase === 'cotp') return this.onConnectReply(frame);
    // A COTP data frame without payload is a "fast acknowledge" of older CPUs: ignore.
    if (frame.length <= 7 && frame[5] === 0xf0) return;
    if (this.phase === 'setup') return this.onSetupReply(frame);
    const ref = framePduRef(frame);
    const pending = ref === undefined ? undefined : this.inflight.get(ref);
    if (!pending || ref === undefined) {
      this.lateFrames++;
      return;
    }
    this.inflight.delete(ref);
    pending.timer?.cancel();
    const ack = parseAck(frame);
    this.consecutiveTimeouts = 0;
    if (ack.ok) pending.resolve(ack.value);
    else pending.reject(this.error('EDGE_ERR_S7_BAD_RESPONSE', ack.reason));
    this.pump();
  }

  private onConnectReply(frame: Buffer): void {
    const reply = parseConnectReply(frame);
    if (!reply.ok || reply.value.kind === 'refused') {
      const why = reply.ok ? (reply.value as { reason: string }).reason : reply.reason;
      return this.failOpen(
        this.error(
          'EDGE_ERR_S7_COTP_REFUSED',
          `PLC refused the ISO connection (${why}); check rack/slot or TSAPs`,
          undefined,
          'cotp',
        ),
      );
    }
    this.phase = 'setup';
    this.socket!.write(buildSetupRequest(this.takeRef(), this.options.pduSize, this.options.maxJobs));
  }

  private onSetupReply(frame: Buffer): void {
    const ack = parseAck(frame);
    const setup = ack.ok ? parseSetupReply(ack.value) : ack;
    if (!setup.ok)
      return this.failOpen(
        this.error('EDGE_ERR_S7_NEGOTIATION', `PDU negotiation failed: ${setup.reason}`, undefined, 'setup'),
      );
    this.pduSize = Math.min(setup.value.pduSize, this.options.pduSize);
    this.maxJobs = Math.max(1, Math.min(setup.value.maxJobs, this.options.maxJobs));
    this.phase = 'ready';
    this.handshakeTimer?.cancel();
    this.handshakeTimer = undefined;
    const settle = this.settleOpen;
    this.settleOpen = undefined;
    settle?.resolve();
  }

  private onSocketError(err: NodeJS.ErrnoException): void {
    if (this.phase === 'tcp') {
      const code: EdgeErrorCode =
        err.code === 'ECONNREFUSED' ? 'EDGE_ERR_S7_CONNECT_REFUSED' : 'EDGE_ERR_S7_CONNECT';
      return this.failOpen(
        this.error(
          code,
          `cannot connect to ${this.options.host}:${this.options.port}: ${err.message}`,
          err,
          'tcp',
        ),
      );
    }
    this.onSocketClose(err);
  }

  private onSocketClose(err?: NodeJS.ErrnoException): void {
    const detail = err ? `: ${err.message}` : '';
    switch (this.phase) {
      case 'closed':
        return;
      case 'tcp':
        return this.failOpen(
          this.error(
            'EDGE_ERR_S7_CONNECT',
            `connection to ${this.options.host}:${this.options.port} closed${detail}`,
            err,
            'tcp',
          ),
        );
      case 'cotp':
        return this.failOpen(
          this.error(
            'EDGE_ERR_S7_COTP_REFUSED',
            `PLC closed the connection after the ISO connection request${detail}; check rack/slot or TSAPs`,
            err,
            'cotp',
          ),
        );
      case 'setup':
        return this.failOpen(
          this.error(
            'EDGE_ERR_S7_NEGOTIATION',
            `PLC closed the connection during PDU negotiation${detail}`,
            err,
            'setup',
          ),
        );
      case 'ready':
        return this.shutdown(this.error('EDGE_ERR_S7_DISCONNECTED', `connection lost${detail}`, err), true);
    }
  }

  private handshakeTimeout(): void {
    this.handshakeTimer = undefined;
    const phase = this.phase;
    this.failOpen(
      this.error(
        'EDGE_ERR_S7_CONNECT_TIMEOUT',
        `no ${phase === 'tcp' ? 'TCP connection' : `${phase} answer`} within ${this.options.connectTimeoutMs} ms`,
        undefined,
        phase,
      ),
    );
  }

  private failOpen(error: EdgeError): void {
    const settle = this.settleOpen;
    this.settleOpen = undefined;
    this.shutdown(error, false);
    settle?.reject(error);
  }

  private shutdown(reason: EdgeError, notify: boolean): void {
    if (this.phase === 'closed') return;
    const wasReady = this.phase === 'ready';
    this.phase = 'closed';
    this.handshakeTimer?.cancel();
    this.handshakeTimer = undefined;
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      socket.removeAllListeners();
      socket.on('error', noop); // a late error on a destroyed socket must not go unhandled
      socket.destroy();
    }
    const failed = [...this.inflight.values(), ...this.queue.map((q) => q.pending)];
    this.inflight.clear();
    this.queue.length = 0;
    for (const p of failed) {
      (p as Pending).timer?.cancel();
      p.reject(reason);
    }
    const settle = this.settleOpen;
    this.settleOpen = undefined;
    settle?.reject(reason);
    const listener = this.closeListener;
    this.closeListener = noop;
    if (notify && wasReady) listener(reason);
  }

  private pump(): void {
    while (this.phase === 'ready' && this.inflight.size < this.maxJobs && this.queue.length > 0) {
      const { build, pending } = this.queue.shift()!;
      const ref = this.takeRef();
      const entry: Pending = { ...pending, frame: build(ref) };
      entry.timer = this.options.clock.setTimeout(() => this.requestTimeout(ref), entry.timeoutMs);
      this.inflight.set(ref, entry);
      this.socket!.write(entry.frame);
    }
  }

  private requestTimeout(ref: number): void {
    const pending = this.inflight.get(ref);
    if (!pending) return;
    this.inflight.delete(ref);
    this.consecutiveTimeouts++;
    pending.reject(this.error('EDGE_ERR_S7_TIMEOUT', `no answer within ${pending.timeoutMs} ms`));
    if (this.consecutiveTimeouts >= this.options.deadAfterTimeouts) {
      this.shutdown(
        this.error(
          'EDGE_ERR_S7_TIMEOUT',
          `${this.consecutiveTimeouts} requests in a row unanswered: link taken as dead`,
        ),
        true,
      );
      return;
    }
    this.pump();
  }

  private takeRef(): number {
    this.nextRef = (this.nextRef % 0xffff) + 1;
    return this.nextRef;
  }

  private error(code: EdgeErrorCode, message: string, cause?: unknown, phase?: string): EdgeError {
    const { host, port } = this.options;
    return new EdgeError(code, message, { cause, context: { host, port, ...(phase ? { phase } : {}) } });
  }
}
