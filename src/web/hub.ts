/**
 * Server-Sent Events to the open pages: a snapshot on connect, then deltas. Each delta is
 * serialised once and written to every page. The status document is read once a second;
 * tag values, pile frames and events go out every 250 ms. With no page open only the
 * once-a-second refresh runs (it feeds the rings the pictures start from).
 */
import type { ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/ports.js';
import type { StationModel } from './model.js';

export interface HubOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly refreshMs?: number;
  readonly flushMs?: number;
  /** Pages at once; more are refused (503). */
  readonly maxClients?: number;
}

/** A page that does not read its stream is dropped rather than buffered without end. */
const MAX_BUFFERED_BYTES = 1 << 20;
/** The page calls its stream stale after two of these without a word (client/app.ts). */
const KEEPALIVE_MS = 15_000;

export class EventHub {
  /** Each page's stream with the check that its login still holds. */
  private readonly clients = new Map<ServerResponse, () => boolean>();
  private refreshTimer: TimerHandle | undefined;
  private flushTimer: TimerHandle | undefined;
  private lastWrite = 0;
  private stopped = false;
  private readonly refreshMs: number;
  private readonly flushMs: number;

  constructor(
    private readonly model: StationModel,
    private readonly options: HubOptions,
  ) {
    this.refreshMs = options.refreshMs ?? 1_000;
    this.flushMs = options.flushMs ?? 250;
  }

  start(): void {
    this.refresh();
  }

  stop(): void {
    this.stopped = true;
    this.refreshTimer?.cancel();
    this.flushTimer?.cancel();
    for (const res of this.clients.keys()) res.end();
    this.clients.clear();
  }

  get size(): number {
    return this.clients.size;
  }

  connect(res: ServerResponse, stillAllowed: () => boolean = () => true): void {
    if (this.stopped || this.clients.size >= (this.options.maxClients ?? 32)) {
      res.statusCode = 503;
      res.setHeader('Retry-After', '5');
      res.end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
    });
    if (this.clients.size === 0) {
      this.model.live = true;
      this.model.markAllSent();
      this.scheduleFlush();
    }
    this.clients.set(res, stillAllowed);
    res.on('close', () => this.drop(res));
    res.write(`retry: 2000\nevent: snapshot\ndata: ${JSON.stringify(this.model.snapshot())}\n\n`);
  }

  private drop(res: ServerResponse): void {
    if (!this.clients.delete(res)) return;
    if (this.clients.size === 0) {
      this.model.live = false;
      this.flushTimer?.cancel();
      this.flushTimer = undefined;
    }
  }

  private refresh(): void {
    try {
      this.model.refresh();
    } catch (err) {
      this.options.logger.warn({ err }, 'station page refresh failed');
    }
    if (!this.stopped)
      this.refreshTimer = this.options.clock.setTimeout(() => this.refresh(), this.refreshMs);
  }

  private scheduleFlush(): void {
    if (this.stopped) return;
    this.flushTimer = this.options.clock.setTimeout(() => {
      this.flush();
      if (this.clients.size > 0) this.scheduleFlush();
    }, this.flushMs);
  }

  private flush(): void {
    // A page whose login ended (logout, expiry) is let go: it comes back to the login wall.
    for (const [res, stillAllowed] of this.clients)
      if (!stillAllowed()) {
        res.end();
        this.drop(res);
      }
    const delta = this.model.takeDelta();
    const now = this.options.clock.monotonic();
    let frame: string | undefined;
    if (delta) frame = `event: delta\ndata: ${JSON.stringify(delta)}\n\n`;
    // An event, not an SSE comment: EventSource never shows a comment to the page, and the
    // page needs to see the stream alive to tell a quiet station from a dead link.
    else if (now - this.lastWrite >= KEEPALIVE_MS)
      frame = `event: ping\ndata: {"t":${this.options.clock.now()}}\n\n`;
    if (!frame) return;
    this.lastWrite = now;
    for (const res of this.clients.keys()) {
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        res.destroy();
        continue;
      }
      res.write(frame);
    }
  }
}
