/**
 * What the page shows, read out of the agent's /status.json document (pure functions).
 * Reading the document rather than the parts keeps the agent's side of the page to one
 * call, and every field is picked by name: a secret that ever landed in the status would
 * still not reach the page.
 */
import { otaView, type OtaView } from './ota-view.js';

export type Json = Record<string, unknown>;

export function obj(x: unknown): Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Json) : {};
}
export function num(x: unknown): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}
export function str(x: unknown): string | null {
  return typeof x === 'string' ? x : null;
}
function counts(x: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(obj(x))) if (typeof v === 'number') out[k] = v;
  return out;
}

export interface OverviewView {
  readonly id: string | null;
  readonly site: string | null;
  readonly version: string;
  readonly state: string | null;
  readonly uptimeMs: number | null;
  readonly configHash: string | null;
  readonly health: { ok: boolean; problems: string[] };
  readonly broker: { url: string | null; enabled: boolean; connected: boolean; reconnects: number };
  readonly outbox: { rows: number; bytes: number; oldestTs: number | null; healthy: boolean };
  readonly drainPerS: number | null;
  readonly ota: OtaView;
  readonly led: string | null;
}

/** An MQTT URL without its user info: `mqtt://user:pass@host` must not reach the page. */
export function publicBrokerUrl(url: string | undefined): string | null {
  if (!url) return null;
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return null;
  }
}

export function overviewView(
  status: Json,
  extra: { version: string; brokerUrl: string | null; drainPerS: number | null },
): OverviewView {
  const agent = obj(status.agent);
  const health = obj(status.health);
  const fwd = obj(status.forwarder);
  const outbox = obj(status.outbox);
  return {
    id: str(agent.id),
    site: str(agent.site),
    version: str(agent.version) ?? extra.version,
    state: str(agent.state),
    uptimeMs: num(agent.uptimeMs),
    configHash: str(agent.configHash) ?? str(obj(status.config).hash),
    health: {
      ok: health.ok === true,
      problems: Array.isArray(health.problems) ? health.problems.map(String) : [],
    },
    broker: {
      url: extra.brokerUrl,
      enabled: status.forwarder !== null && status.forwarder !== undefined,
      connected: fwd.connected === true,
      reconnects: num(fwd.reconnects) ?? 0,
    },
    outbox: {
      rows: num(outbox.rows) ?? 0,
      bytes: num(outbox.bytes) ?? 0,
      oldestTs: num(outbox.oldestTs),
      healthy: outbox.healthy === true,
    },
    drainPerS: extra.drainPerS,
    ota: otaView(status),
    led: str(status.led),
  };
}

export interface DeviceView {
  readonly name: string;
  readonly driver: string;
  readonly state: string;
  readonly source: string;
  readonly breaker: string | null;
  readonly lastPollTs: number | null;
  readonly lastPollMs: number | null;
  readonly polls: number;
  readonly pollErrors: number;
  readonly errorsByCode: Record<string, number>;
}

export function deviceViews(status: Json): DeviceView[] {
  const devices = Array.isArray(status.devices) ? status.devices : [];
  return devices.map((d) => {
    const dev = obj(d);
    const link = obj(dev.link);
    // A failover device's breaker is its active slot's.
    const breaker = str(link.breaker) ?? str(obj(obj(link.link)).breaker) ?? null;
    return {
      name: str(dev.device) ?? '?',
      driver: str(dev.driver) ?? '?',
      state: str(dev.state) ?? '?',
      source: str(dev.source) ?? 'primary',
      breaker,
      lastPollTs: num(dev.lastPollTs),
      lastPollMs: num(dev.lastPollMs),
      polls: num(dev.polls) ?? 0,
      pollErrors: num(dev.pollErrors) ?? 0,
      errorsByCode: counts(dev.errorsByCode),
    };
  });
}

export interface DtuView {
  readonly name: string;
  readonly mode: string | null;
  readonly up: boolean;
  readonly remote: string | null;
  readonly since: number | null;
  readonly lastHeartbeatAt: number | null;
  readonly registrations: number;
  readonly heartbeats: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly timeouts: number;
  readonly crcErrors: number;
}

export function dtuViews(status: Json): DtuView[] {
  return Object.entries(obj(obj(status.dtu).links)).map(([name, l]) => {
    const link = obj(l);
    return {
      name,
      mode: str(link.mode),
      up: link.up === true,
      remote: str(link.remoteAddress),
      since: num(link.since),
      lastHeartbeatAt: num(link.lastHeartbeatAt),
      registrations: num(link.registrations) ?? 0,
      heartbeats: num(link.heartbeats) ?? 0,
      bytesIn: num(link.bytesIn) ?? 0,
      bytesOut: num(link.bytesOut) ?? 0,
      timeouts: num(link.timeouts) ?? 0,
      crcErrors: num(link.crcErrors) ?? 0,
    };
  });
}

export interface S7View {
  readonly name: string;
  readonly state: string | null;
  readonly pduSize: number | null;
  readonly requestsPerCycle: number | null;
  readonly quarantined: string[];
  readonly lastError: string | null;
}

export function s7Views(status: Json): S7View[] {
  const devices = Array.isArray(status.devices) ? status.devices : [];
  return devices
    .map(obj)
    .filter((d) => d.driver === 's7')
    .map((d) => {
      const link = obj(d.link);
      const quarantined = Array.isArray(link.quarantined) ? link.quarantined : [];
      return {
        name: str(d.device) ?? '?',
        state: str(link.state),
        pduSize: num(link.pduSize),
        requestsPerCycle: num(link.requestsPerCycle),
        quarantined: quarantined.map((q) => str(obj(q).tag) ?? '?'),
        lastError: str(obj(link.lastError).code),
      };
    });
}

export interface PileBase {
  readonly id: string;
  readonly state: string;
  readonly online: boolean;
  readonly version: string | null;
  readonly remote: string | null;
  readonly pendingCommands: number;
}

export function pileBases(status: Json): PileBase[] {
  return Object.entries(obj(obj(status.cip22).piles)).map(([id, p]) => {
    const pile = obj(p);
    return {
      id,
      state: str(pile.state) ?? '?',
      online: pile.online === true,
      version: str(pile.version),
      remote: str(pile.remote),
      pendingCommands: num(pile.pendingCommands) ?? 0,
    };
  });
}

/** An event's data in a line: a state change as `from → to (cause)`, anything else as key=value. */
export function describe(type: string, data: Json): string {
  if (type === 'cip22-state') return `${str(data.from)} → ${str(data.to)} (${str(data.cause)})`;
  return Object.entries(data)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

export function pushBounded<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}
