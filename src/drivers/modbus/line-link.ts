/**
 * The link under a Line (line.ts): its connection lifecycle, apart from the request
 * scheduling on top. Devices acquire and release the line (the first connects, the last
 * closes the link); a lost link is re-opened with capped exponential backoff and jitter
 * while devices use it. Every connect, loss and shutdown starts a new generation, which a
 * request that went out on an older link checks before trusting anything of it.
 *
 * A base class rather than a member object: the request path reads `stateValue` and
 * `generation` on every frame, and as fields of the line itself they cost no indirection.
 */
import { Backoff, type BackoffPolicy } from '../../core/backoff.js';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { EdgeError } from '../../core/errors.js';
import type { Logger } from '../../core/ports.js';
import { toModbusError } from './errors.js';
import type { ModbusTransport } from './port.js';

export type LineState = 'idle' | 'connecting' | 'up' | 'down' | 'closed';

export interface LineOptions {
  readonly key: string;
  readonly kind: 'tcp' | 'rtu';
  /** Silence between the end of one frame and the next request (0 for TCP). */
  readonly gapMs: number;
  readonly backoff: BackoffPolicy;
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
  readonly transport: ModbusTransport;
}

export abstract class LineLink {
  protected stateValue: LineState = 'idle';
  private refs = 0;
  private readonly backoff: Backoff;
  private reconnectTimer: TimerHandle | undefined;
  private connecting: Promise<void> | undefined;
  protected generation = 0;
  readonly stats = {
    requests: 0,
    reconnects: 0,
    connectFailures: 0,
    lastError: undefined as string | undefined,
  };

  constructor(protected readonly opts: LineOptions) {
    this.backoff = new Backoff(opts.backoff, opts.random);
  }

  /** The link opened: the request side starts afresh on it. */
  protected abstract linkOpened(): void;

  /** The link is not up any more: every queued request is answered as disconnected. */
  protected abstract failQueued(): void;

  get key(): string {
    return this.opts.key;
  }

  get state(): LineState {
    return this.stateValue;
  }

  get users(): number {
    return this.refs;
  }

  /** Delay the next reconnect attempt will wait, when one is scheduled. */
  nextReconnectInMs: number | undefined;

  /**
   * A device starts using the line. Connects now if the line is not up; on failure the
   * device is not counted and the error (EDGE_ERR_MODBUS_CONNECT, retryable) is thrown.
   */
  async acquire(): Promise<void> {
    if (this.stateValue === 'closed')
      throw new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', `line ${this.key} is closed`);
    this.refs++;
    if (this.stateValue === 'up') return;
    try {
      await this.connectNow();
    } catch (err) {
      this.refs--;
      if (this.refs === 0) await this.shutdown('idle');
      throw err;
    }
  }

  /** A device stops using the line; the last one closes the link. */
  async release(): Promise<void> {
    if (this.refs === 0) return;
    this.refs--;
    if (this.refs === 0) await this.shutdown('idle');
  }

  /** Closes the line for good (family close). */
  async close(): Promise<void> {
    this.refs = 0;
    await this.shutdown('closed');
  }

  private connectNow(): Promise<void> {
    if (this.connecting) return this.connecting;
    this.reconnectTimer?.cancel();
    this.reconnectTimer = undefined;
    this.nextReconnectInMs = undefined;
    this.stateValue = 'connecting';
    const generation = ++this.generation;
    const attempt = (async () => {
      try {
        await this.opts.transport.connect();
      } catch (err) {
        const error = toModbusError(err, 'connect');
        if (generation === this.generation) {
          this.stats.connectFailures++;
          this.stats.lastError = error.code;
          this.stateValue = 'down';
          this.scheduleReconnect();
        }
        throw error;
      }
      if (generation !== this.generation) {
        // closed or stopped while connecting
        await this.opts.transport.close();
        throw new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', `line ${this.key} was closed while connecting`);
      }
      this.stateValue = 'up';
      this.linkOpened();
      this.backoff.reset();
      this.opts.logger.info({ line: this.key }, 'modbus line up');
    })();
    this.connecting = attempt;
    const clear = (): void => {
      if (this.connecting === attempt) this.connecting = undefined;
    };
    attempt.then(clear, clear);
    return attempt;
  }

  private scheduleReconnect(): void {
    if (this.refs === 0 || this.stateValue === 'closed' || this.reconnectTimer) return;
    const ms = this.backoff.next();
    this.nextReconnectInMs = ms;
    this.opts.logger.warn(
      { line: this.key, inMs: ms, error: this.stats.lastError },
      'modbus line down; reconnect scheduled',
    );
    this.reconnectTimer = this.opts.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      this.stats.reconnects++;
      this.connectNow().catch(() => undefined);
    }, ms);
  }

  protected linkLost(error: EdgeError): void {
    if (this.stateValue !== 'up') return;
    this.generation++;
    this.stateValue = 'down';
    this.stats.lastError = error.code;
    this.failQueued();
    void this.opts.transport.close().catch(() => undefined);
    this.scheduleReconnect();
  }

  private async shutdown(state: 'idle' | 'closed'): Promise<void> {
    this.generation++;
    this.reconnectTimer?.cancel();
    this.reconnectTimer = undefined;
    this.nextReconnectInMs = undefined;
    this.stateValue = state;
    this.failQueued();
    this.backoff.reset();
    await this.opts.transport.close().catch(() => undefined);
  }
}
