/** Counters, PUBACK latency and error tally of the MQTT forwarder. */
import type { EdgeErrorCode } from '../../core/errors.js';
import type { DrainWindow } from './drain-window.js';
import type { MqttForwarderStats } from './types.js';

const LATENCY_SAMPLES = 255;

/** PUBACK latency: last sample, EWMA (α = 0.1) and the median of the last 255 samples. */
class LatencyTracker {
  private lastMs: number | null = null;
  private ewmaMs: number | null = null;
  private readonly samples: number[] = [];
  private idx = 0;

  record(latencyMs: number): void {
    this.lastMs = latencyMs;
    this.ewmaMs = this.ewmaMs === null ? latencyMs : this.ewmaMs + 0.1 * (latencyMs - this.ewmaMs);
    if (this.samples.length < LATENCY_SAMPLES) this.samples.push(latencyMs);
    else this.samples[this.idx++ % LATENCY_SAMPLES] = latencyMs;
  }

  get last(): number | null {
    return this.lastMs;
  }

  get ewma(): number | null {
    return this.ewmaMs;
  }

  median(): number | null {
    if (this.samples.length === 0) return null;
    const sorted = [...this.samples].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  }
}

type MetricsSnapshot = Pick<
  MqttForwarderStats,
  | 'publishedRecords'
  | 'publishedMessages'
  | 'connectAttempts'
  | 'reconnects'
  | 'lastPubackLatencyMs'
  | 'pubackLatencyMedianMs'
  | 'pubackLatencyEwmaMs'
  | 'errorsByCode'
  | 'lastError'
  | 'lastErrorCode'
  | 'lastErrorAt'
>;

/** The forwarder's cumulative figures (those of stats() that do not describe the window). */
export class ForwarderMetrics {
  publishedRecords = 0;
  publishedMessages = 0;
  connectAttempts = 0;
  reconnects = 0;
  private readonly latency = new LatencyTracker();
  private readonly errors: Record<string, number> = {};
  private lastError: { code: EdgeErrorCode; message: string; at: number } | null = null;

  /** A message carrying `records` records was PUBACKed after `latencyMs`. */
  recordPuback(latencyMs: number, records: number): void {
    this.latency.record(latencyMs);
    this.publishedRecords += records;
    this.publishedMessages++;
  }

  recordError(code: EdgeErrorCode, message: string, at: number): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
    this.lastError = { code, message, at };
  }

  snapshot(): MetricsSnapshot {
    return {
      publishedRecords: this.publishedRecords,
      publishedMessages: this.publishedMessages,
      connectAttempts: this.connectAttempts,
      reconnects: this.reconnects,
      lastPubackLatencyMs: this.latency.last,
      pubackLatencyMedianMs: this.latency.median(),
      pubackLatencyEwmaMs: this.latency.ewma,
      errorsByCode: { ...this.errors },
      lastError: this.lastError ? `${this.lastError.code}: ${this.lastError.message}` : null,
      lastErrorCode: this.lastError?.code ?? null,
      lastErrorAt: this.lastError?.at ?? null,
    };
  }
}

/** stats() of the forwarder: its cumulative figures and the state of its drain window. */
export function forwarderStats(
  win: DrainWindow,
  m: MetricsSnapshot,
  /** The outbox's last rowid; undefined when the source is closed. */
  lastRowid: number | undefined,
  link: Pick<MqttForwarderStats, 'connected' | 'url' | 'oversizedDropped'>,
): MqttForwarderStats {
  const unread = lastRowid === undefined ? 0 : win.unreadLive(lastRowid);
  return {
    connected: link.connected,
    url: link.url,
    publishedRecords: m.publishedRecords,
    publishedMessages: m.publishedMessages,
    inflightMessages: win.inflightMessages,
    inflightRecords: win.inflightRecords,
    peakInflightMessages: win.peakInflightMessages,
    window: win.window,
    connectAttempts: m.connectAttempts,
    reconnects: m.reconnects,
    lastPubackLatencyMs: m.lastPubackLatencyMs,
    pubackLatencyMedianMs: m.pubackLatencyMedianMs,
    pubackLatencyEwmaMs: m.pubackLatencyEwmaMs,
    backlogActive: link.connected && win.backlogPending,
    backlogRemaining: win.outstandingRecords() + unread,
    errorsByCode: m.errorsByCode,
    lastError: m.lastError,
    lastErrorCode: m.lastErrorCode,
    lastErrorAt: m.lastErrorAt,
    oversizedDropped: link.oversizedDropped,
  };
}
