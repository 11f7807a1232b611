/**
 * One socket the DTU listener accepted that has not registered yet: the bytes it sent so
 * far, a quiet timer (an ambiguous registration is decided after a silence) and the
 * registration deadline. The hub (hub.ts) decides what the bytes mean.
 */
import type { Socket } from 'node:net';
import type { Clock, TimerHandle } from '../../../core/clock.js';
import { MAX_REGISTRATION_BYTES } from './registration.js';

/** Silence after the last registration byte before an ambiguous registration is decided. */
export const REGISTRATION_QUIET_MS = 200;

export interface PendingHandlers {
  /** Bytes arrived (or the quiet passed: `final`); the hub tries to match them. */
  readonly tryRegister: (p: PendingRegistration, final: boolean) => void;
  /** The registration deadline passed with no byte at all. */
  readonly timedOut: (p: PendingRegistration) => void;
  /** The socket closed before it registered. */
  readonly closed: (p: PendingRegistration) => void;
}

export class PendingRegistration {
  buf: Buffer = Buffer.alloc(0);
  private quiet: TimerHandle | undefined;
  private readonly deadline: TimerHandle;
  /** Still waiting for its registration (not dropped, not a link yet). */
  live = true;

  constructor(
    readonly socket: Socket,
    private readonly clock: Clock,
    timeoutMs: number,
    handlers: PendingHandlers,
  ) {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      handlers.tryRegister(this, this.buf.length >= MAX_REGISTRATION_BYTES);
      if (!this.live) return;
      this.quiet?.cancel();
      this.quiet = this.clock.setTimeout(() => handlers.tryRegister(this, true), REGISTRATION_QUIET_MS);
    });
    socket.once('close', () => {
      if (this.live) handlers.closed(this);
    });
    this.deadline = this.clock.setTimeout(() => {
      if (!this.live) return;
      if (this.buf.length > 0) return handlers.tryRegister(this, true);
      handlers.timedOut(this);
    }, timeoutMs);
  }

  /** The registration matched: the socket is handed on (its listeners here removed). */
  release(): void {
    this.stopTimers();
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('close');
  }

  /** Closes the socket: no registration, or the hub stops. */
  drop(): void {
    this.stopTimers();
    this.socket.destroy();
  }

  private stopTimers(): void {
    this.live = false;
    this.quiet?.cancel();
    this.deadline.cancel();
  }
}
