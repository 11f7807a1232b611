/**
 * The drain over one MQTT connection: fills the in-flight window with built messages,
 * reads and builds the next chunk in a turn of its own (pipelined), and turns each PUBACK
 * into an outbox ack. The forwarder owns the connection's lifecycle and attaches a client
 * here once it is connected; detach() forgets it (late PUBACKs of that client are ignored,
 * everything unacked is dropped from memory and re-read after the next attach).
 *
 * A record is acked to the outbox only after the PUBACK (reason < 0x80) of the message
 * carrying it: it is marked delivered at once (the size cap counts it as no loss) and
 * deleted in a batch later (outbox-acks.ts), off the event loop when the outbox can
 * (ackAsync) and the batch is large. While such a delete fails (retried with
 * backoff), nothing new is published. Each published message is announced to the outbox
 * (sending: not evicted while its PUBACK may come).
 */
import type { MqttClient } from 'mqtt';
import type { Clock } from '../../core/clock.js';
import type { EdgeErrorCode } from '../../core/errors.js';
import type { Logger, OutboxSource } from '../../core/ports.js';
import type { DrainWindow } from './drain-window.js';
import { ACK_DEFAULTS, OutboxAcks } from './outbox-acks.js';
import type { ForwarderMetrics } from './stats.js';
import type { Uplink } from './uplink.js';

/**
 * Acks of at least this many rows go to the outbox's ack worker (a backlog drains); smaller
 * ones (live traffic) delete in the loop, so a steady trickle does not keep the worker's
 * thread and memory alive.
 */
export const ASYNC_ACK_MIN_ROWS = 1024;

export interface DrainPumpDeps {
  readonly win: DrainWindow;
  readonly source: OutboxSource;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: ForwarderMetrics;
  readonly uplink: Uplink | undefined;
  /** MQTT 5 carries the payload format properties. */
  readonly properties: boolean;
  recordError(code: EdgeErrorCode, message: string): void;
  /** A publish was rejected or the drain failed: drop the connection, resend after a reconnect. */
  recycle(): void;
  /** A PUBACK came: publishing works (the reconnect backoff starts over). */
  published(): void;
}

export class DrainPump {
  private client: MqttClient | undefined;
  /** Bumped by detach(): callbacks of an older attachment are ignored. */
  private token = 0;
  private stopping = false;
  private pumpQueued = false;
  private prefetchQueued = false;
  private idleWaiter: (() => void) | undefined;
  private readonly acks: OutboxAcks;

  constructor(private readonly d: DrainPumpDeps) {
    this.acks = new OutboxAcks(
      (rowids) =>
        d.source.ackAsync && rowids.length >= ASYNC_ACK_MIN_ROWS
          ? d.source.ackAsync(rowids)
          : d.source.ack(rowids),
      (e) => {
        d.recordError('EDGE_ERR_MQTT_PUBLISH', `ack to outbox failed: ${e.message}`);
        d.log.error({ err: e.message }, 'outbox ack failed; retrying, no new publishes until it succeeds');
      },
      {
        clock: d.clock,
        ...ACK_DEFAULTS,
        onRecovered: () => this.schedule(),
        settled: () => d.win.ackedBelowFloor(),
      },
    );
  }

  /** A connected client: drain through it (the window was reset by the caller). */
  attach(client: MqttClient): void {
    this.client = client;
    this.stopping = false;
    if (this.acks.underWay === 0) return this.pump();
    const token = this.token;
    // Deletes sent before (detach() flushed them) land first: what they delete is not read again.
    void this.acks.settled().then(() => {
      if (token === this.token) this.pump();
    });
  }

  /** The connection is gone: drops everything unacked, acks what was PUBACKed. */
  detach(): void {
    this.token++;
    this.client = undefined;
    this.d.win.clear();
    this.acks.flush();
    if (this.stopping) this.acks.cancelRetry();
  }

  /** No new publishes from here on; in-flight PUBACKs are still taken. */
  stop(): void {
    this.stopping = true;
  }

  /** Calls `done` once nothing is in flight (or the connection closed: release()). */
  whenIdle(done: (() => void) | undefined): void {
    this.idleWaiter = done;
  }

  /** The connection closed while stopping: whoever waits for the window stops waiting. */
  release(): void {
    this.idleWaiter?.();
  }

  /** Fills free window slots in a microtask (after an outbox commit, a restart). */
  schedule(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** Fills free window slots; runs on attach, on PUBACK and after outbox commits. */
  private pump(): void {
    const client = this.client;
    if (!client || this.stopping) return;
    const { win, uplink } = this.d;
    if (uplink && !uplink.ready) return; // held: records stay in the outbox
    // Deletes failing: publish nothing new, so the delivered rows stay bounded and none is re-read.
    if (this.acks.failing) return;
    const token = this.token;
    try {
      while (win.hasRoom()) {
        const msg = win.next();
        if (!msg) break;
        const id = win.add(msg, this.d.clock.monotonic());
        this.d.source.sending?.(msg.rowids); // not evicted while its PUBACK may come
        const properties = msg.properties && this.d.properties ? { properties: msg.properties } : {};
        const wire = uplink?.wire(msg) ?? { topic: msg.topic, payload: msg.bytes ?? msg.payload };
        client.publish(wire.topic, wire.payload, { qos: 1, ...properties }, (err, packet) =>
          this.onPuback(token, id, err, packet),
        );
        if (token !== this.token) return; // publish failed synchronously and closed the connection
      }
      this.schedulePrefetch();
    } catch (err) {
      this.failed('mqtt drain failed; reconnecting', err);
    }
  }

  /** Reads and builds the next chunk in a turn of its own, then fills what the window frees. */
  private schedulePrefetch(): void {
    if (this.prefetchQueued) return;
    this.prefetchQueued = true;
    setImmediate(() => {
      this.prefetchQueued = false;
      if (!this.client || this.stopping) return;
      try {
        if (this.d.win.prefetch()) this.pump();
      } catch (err) {
        this.failed('mqtt drain read failed; reconnecting', err);
      }
    });
  }

  /** A chunk read elsewhere failed: resend from the outbox after a reconnect. */
  chunkFailed(e: Error, fallback: boolean): void {
    const then = fallback ? '; reading on the main thread from now on' : '';
    this.failed(`mqtt drain read failed; reconnecting${then}`, e, 'drain read');
  }

  private failed(what: string, err: unknown, label = 'drain'): void {
    this.d.recordError('EDGE_ERR_MQTT_PUBLISH', `${label}: ${(err as Error).message}`);
    this.d.log.error({ err: (err as Error).message }, what);
    this.d.recycle();
  }

  private onPuback(token: number, id: number, err: Error | undefined, packet: unknown): void {
    if (token !== this.token) return;
    const { win, clock } = this.d;
    const entry = win.settle(id, clock.monotonic());
    if (!entry) return;
    const rc = (packet as { reasonCode?: number } | undefined)?.reasonCode;
    if (err || (rc !== undefined && rc >= 0x80)) {
      const message = err?.message ?? `PUBACK reason code 0x${(rc as number).toString(16)}`;
      this.d.recordError('EDGE_ERR_MQTT_PUBLISH', message);
      this.d.log.warn(
        {
          code: 'EDGE_ERR_MQTT_PUBLISH',
          topic: entry.msg.topic,
          reason: message,
          ...(rc !== undefined ? { reasonCode: rc } : {}),
        },
        'mqtt publish rejected; reconnecting to resend',
      );
      this.d.source.unsent?.(entry.msg.rowids);
      this.d.recycle();
      return;
    }
    const { rowids } = entry.msg;
    this.d.metrics.recordPuback(clock.monotonic() - entry.sentAt, rowids.length);
    try {
      this.d.source.acked?.(rowids); // delivered from here on, deleted in a batch later
    } catch (e) {
      // Only the size cap's knowledge is lost: the batched ack below still deletes them.
      this.d.log.warn({ err: (e as Error).message }, 'outbox did not take the PUBACKed rows');
    }
    this.acks.add(rowids);
    if (win.inflightMessages === 0) this.acks.idle();
    this.d.published();
    if (this.stopping) {
      if (win.inflightMessages === 0) this.idleWaiter?.();
      return;
    }
    this.pump();
  }
}
