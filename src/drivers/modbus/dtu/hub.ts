/**
 * The agent's DTU hub: the listener DTUs dial (server links, identified by their
 * registration packet), the dialer of DTUs that listen (client links), and one link per
 * configured DTU (link.ts: liveness, keepalive, the RtuStreamTransport the Modbus family
 * reads through). Which status fields are counts carried across reloads: status-counts.ts.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { allowListOf, normaliseAddress, type AllowList } from '../../../core/allow-list.js';
import { EdgeError } from '../../../core/errors.js';
import type { Logger } from '../../../core/ports.js';
import type { ModbusTransport } from '../port.js';
import type { DtuConfig, DtuLinkConfig, DtuServerConfig } from './config.js';
import { dialClientLink } from './dialer.js';
import { DtuLink, remoteOf, type DtuHubDeps, type DtuStatus } from './link.js';
import { PendingRegistration } from './pending.js';
import {
  compileRegistration,
  matchRegistration,
  MAX_REGISTRATION_BYTES,
  type CompiledRegistration,
} from './registration.js';
import { UnknownSourceCounter } from './source-limit.js';
import { COUNT_FIELDS, countsOf } from './status-counts.js';
import { takeoverRefusal } from './takeover.js';
import { DtuUdpEndpoint, type DtuUdpServerStatus } from './udp-endpoint.js';
import { UdpDtuLink } from './udp-link.js';
import { CarriedCounts } from '../../../core/carry.js';

export type { DtuHubDeps, DtuStatus } from './link.js';

export interface DtuServerStatus {
  readonly listening: boolean;
  readonly address: string | undefined;
  readonly port: number | undefined;
  readonly openSockets: number;
  readonly pendingRegistrations: number;
  readonly unknownRegistrations: number;
  readonly registrationTimeouts: number;
  readonly rejectedMaxLinks: number;
  /** Closed at accept: the source is not in dtu.server.allowFrom. */
  readonly rejectedSource: number;
  /** Closed at accept: the source sent too many unknown registrations this minute. */
  readonly rateLimited: number;
  /** The UDP port, when a server link has transport udp (its unknown registrations count above too). */
  readonly udp?: DtuUdpServerStatus;
}

/** The peer address as limits key it (IPv4-mapped IPv6 unwrapped). */
function sourceOf(socket: Socket): string | undefined {
  const a = socket.remoteAddress;
  return a === undefined ? undefined : (normaliseAddress(a)?.address ?? a);
}

function udpLinkChange(name: string): EdgeError {
  return new EdgeError(
    'EDGE_ERR_CONFIG_INVALID',
    `DTU link "${name}" is a UDP link: it changes by a restart`,
    {
      context: { field: 'dtu.links', dtu: name },
    },
  );
}

export class DtuHub {
  private readonly links = new Map<string, DtuLink>();
  /** What links a reload replaced or removed counted: their names' totals stay monotonic. */
  private readonly carried = new CarriedCounts();
  private readonly registrations: CompiledRegistration[] = [];
  private server: Server | undefined;
  private readonly pending = new Set<PendingRegistration>();
  private readonly log: Logger;
  private started = false;
  private stopped = false;
  private readonly serverCounters = {
    unknownRegistrations: 0,
    registrationTimeouts: 0,
    rejectedMaxLinks: 0,
    rejectedSource: 0,
    rateLimited: 0,
  };
  private listenerAllow: AllowList | undefined;
  /** dtu.server: replaced by a hot reload (replaceServer). */
  private serverConfig: DtuServerConfig | undefined;
  private readonly linkAllow = new Map<string, AllowList>();
  private readonly unknownSources: UnknownSourceCounter;
  private sourceLoggedAt = -Infinity;
  private readonly udp: DtuUdpEndpoint | undefined;

  constructor(
    private readonly config: DtuConfig,
    private readonly deps: DtuHubDeps,
  ) {
    this.log = deps.logger.child({ component: 'dtu' });
    this.unknownSources = new UnknownSourceCounter(deps.clock);
    const udpLinks: UdpDtuLink[] = [];
    for (const l of config.links) {
      if (l.transport === 'udp') {
        const link = new UdpDtuLink(l, deps, config.echoSuppression);
        udpLinks.push(link);
        this.links.set(l.name, link);
        continue;
      }
      this.links.set(l.name, new DtuLink(l, deps, config.echoSuppression));
      if (l.mode === 'server') {
        this.registrations.push(compileRegistration(l.name, l.registration));
        const allow = allowListOf(l.allowFrom);
        if (allow) this.linkAllow.set(l.name, allow);
      }
    }
    this.serverConfig = config.server;
    this.listenerAllow = allowListOf(config.server?.allowFrom);
    this.udp = udpLinks.length > 0 ? new DtuUdpEndpoint(config, udpLinks, deps) : undefined;
  }

  /** The transport of a link (usable before the link is up: requests then fail fast). */
  transport(name: string): ModbusTransport {
    const link = this.links.get(name);
    if (!link) {
      throw new EdgeError('EDGE_ERR_CONFIG_INVALID', `unknown DTU link "${name}"`, {
        context: { field: 'connection.dtu', dtu: name },
      });
    }
    return link.transport;
  }

  /** Listens when a link has mode server; starts dialling client links (in the background). */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.registrations.length > 0) await this.listen();
    await this.udp?.start();
    for (const link of this.links.values()) if (link.config.mode === 'client') this.dial(link);
  }

  /** Closes the listener and every socket; cancels every timer. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const p of [...this.pending]) this.dropPending(p);
    await this.udp?.stop();
    for (const link of this.links.values()) link.stop();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * Hot reload of one TCP link: the link of that name (if any) closes its socket, the new
   * one registers or dials afresh. The other links keep their sockets and registrations.
   * UDP links share one endpoint built at start: changing one is a restart (diff.ts).
   */
  async upsertLink(config: DtuLinkConfig): Promise<void> {
    if (config.transport === 'udp') throw udpLinkChange(config.name);
    this.dropLink(config.name);
    const link = new DtuLink(config, this.deps, this.config.echoSuppression);
    this.links.set(config.name, link);
    if (config.mode === 'client') {
      if (this.started) this.dial(link);
      return;
    }
    this.registrations.push(compileRegistration(config.name, config.registration));
    const allow = allowListOf(config.allowFrom);
    if (allow) this.linkAllow.set(config.name, allow);
    if (this.started && !this.stopped && !this.server) await this.listen();
  }

  /**
   * Hot reload of dtu.server: the listener closes and one with the new settings binds.
   * Registered links keep their sockets (an accepted socket outlives its listener); a DTU
   * still registering is dropped and dials again.
   */
  async replaceServer(server: DtuServerConfig | undefined): Promise<void> {
    this.serverConfig = server;
    this.listenerAllow = allowListOf(server?.allowFrom);
    for (const p of [...this.pending]) this.dropPending(p);
    // Not awaited: close() calls back only once the links' sockets it accepted have ended.
    this.server?.close();
    this.server = undefined;
    if (server && this.started && !this.stopped && this.registrations.length > 0) await this.listen();
  }

  /** Hot reload: closes one link's socket and forgets the link (its devices were removed first). */
  removeLink(name: string): void {
    this.dropLink(name);
  }

  private dropLink(name: string): void {
    const old = this.links.get(name);
    if (!old) return;
    if (old.config.transport === 'udp') throw udpLinkChange(name);
    this.links.delete(name);
    const i = this.registrations.findIndex((r) => r.name === name);
    if (i >= 0) this.registrations.splice(i, 1);
    this.linkAllow.delete(name);
    this.carried.retire(name, countsOf(old.status()));
    old.stop();
  }

  /** Where the listener is bound (tests use port 0). */
  address(): { host: string; port: number } | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
  }

  /** Where the UDP port is bound (tests use port 0). */
  udpAddress(): { host: string; port: number } | undefined {
    return this.udp?.address();
  }

  status(): Record<string, DtuStatus> {
    return Object.fromEntries(
      [...this.links].map(([name, link]) => [name, this.carried.plus(name, link.status(), COUNT_FIELDS)]),
    );
  }

  serverStatus(): DtuServerStatus {
    const a = this.address();
    let open = this.pending.size;
    for (const l of this.links.values())
      if (l.up && l.config.mode === 'server' && l.config.transport === 'tcp') open++;
    const udp = this.udp?.status();
    return {
      listening: this.server?.listening === true,
      address: a?.host,
      port: a?.port,
      openSockets: open,
      pendingRegistrations: this.pending.size,
      ...this.serverCounters,
      unknownRegistrations: this.serverCounters.unknownRegistrations + (udp?.unknownRegistrations ?? 0),
      ...(udp ? { udp } : {}),
    };
  }

  // --- server ---------------------------------------------------------------------

  private listen(): Promise<void> {
    const cfg = this.serverConfig!;
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        this.server = undefined;
        reject(
          new EdgeError(
            'EDGE_ERR_DTU_LISTEN',
            `DTU listener cannot bind ${cfg.host}:${cfg.port}: ${err.message}`,
            { cause: err },
          ),
        );
      };
      server.once('error', onError);
      server.listen(cfg.port, cfg.host, () => {
        server.off('error', onError);
        server.on('error', (err) => this.log.error({ err: err.message }, 'DTU listener error'));
        this.log.info({ host: cfg.host, port: this.address()?.port }, 'DTU listener up');
        resolve();
      });
    });
  }

  private accept(socket: Socket): void {
    if (this.stopped) return void socket.destroy();
    const cfg = this.serverConfig!;
    const source = sourceOf(socket);
    if (this.listenerAllow && !this.listenerAllow.allows(source)) {
      this.serverCounters.rejectedSource++;
      // One line a minute: a scan of the WAN side must not flood the journal.
      const now = this.deps.clock.monotonic();
      if (now - this.sourceLoggedAt >= 60_000) {
        this.sourceLoggedAt = now;
        this.log.warn(
          {
            remote: remoteOf(socket),
            code: 'EDGE_ERR_DTU_SOURCE_REFUSED',
            rejectedSource: this.serverCounters.rejectedSource,
          },
          'DTU connection refused: source not in dtu.server.allowFrom (further ones this minute only counted)',
        );
      }
      return void socket.destroy();
    }
    if (this.unknownSources.count(source) >= cfg.unknownRegistrationsPerMinute) {
      // Not logged one by one: this is the flood the limit is for.
      this.serverCounters.rateLimited++;
      return void socket.destroy();
    }
    if (this.serverStatus().openSockets >= cfg.maxLinks) {
      this.serverCounters.rejectedMaxLinks++;
      this.log.warn(
        { remote: remoteOf(socket), maxLinks: cfg.maxLinks },
        'DTU connection refused: maxLinks reached',
      );
      socket.destroy();
      return;
    }
    const p = new PendingRegistration(socket, this.deps.clock, cfg.registrationTimeoutMs, {
      tryRegister: (q, final) => this.tryRegister(q, final),
      closed: (q) => this.dropPending(q),
      timedOut: (q) => {
        this.serverCounters.registrationTimeouts++;
        this.log.warn(
          {
            remote: remoteOf(socket),
            code: 'EDGE_ERR_DTU_REGISTRATION_TIMEOUT',
            timeoutMs: cfg.registrationTimeoutMs,
          },
          'DTU sent no registration in time; closing',
        );
        this.dropPending(q);
      },
    });
    this.pending.add(p);
  }

  private tryRegister(p: PendingRegistration, final: boolean): void {
    if (!this.pending.has(p)) return;
    const m = matchRegistration(p.buf.subarray(0, MAX_REGISTRATION_BYTES), this.registrations, final);
    if (m.kind === 'wait') return;
    if (m.kind === 'unknown') {
      this.serverCounters.unknownRegistrations++;
      this.unknownSources.add(sourceOf(p.socket));
      this.log.warn(
        {
          remote: remoteOf(p.socket),
          code: 'EDGE_ERR_DTU_UNKNOWN_REGISTRATION',
          hex: p.buf.subarray(0, MAX_REGISTRATION_BYTES).toString('hex'),
          text: p.buf
            .subarray(0, 64)
            .toString('latin1')
            .replace(/[^\x20-\x7e]/g, '.'),
        },
        'DTU registration matches no link; closing',
      );
      this.dropPending(p);
      return;
    }
    this.pending.delete(p);
    p.release();
    const link = this.links.get(m.name)!;
    const refusal = this.registrationRefusal(link, p.socket);
    if (refusal !== undefined) {
      // Counts towards the source's limit like an unknown registration (bounds the log too).
      this.unknownSources.add(sourceOf(p.socket));
      this.log.warn(
        {
          remote: remoteOf(p.socket),
          link: m.name,
          current: link.remote,
          code: 'EDGE_ERR_DTU_SOURCE_REFUSED',
        },
        `DTU registration refused: ${refusal}`,
      );
      return this.dropPending(p);
    }
    this.log.info({ remote: remoteOf(p.socket), link: m.name }, 'DTU registered');
    link.attach(p.socket, Buffer.from(p.buf.subarray(m.consumed)));
  }

  /** Why a connection that sent `link`'s registration may not become the link (takeover.ts). */
  private registrationRefusal(link: DtuLink, socket: Socket): string | undefined {
    return takeoverRefusal(
      link,
      sourceOf(socket),
      this.linkAllow.get(link.name),
      this.deps.clock.monotonic(),
    );
  }

  private dropPending(p: PendingRegistration): void {
    this.pending.delete(p);
    p.drop();
  }

  /** Dials a client link until the hub stops or a reload replaces or removes the link. */
  private dial(link: DtuLink): void {
    dialClientLink(link, {
      clock: this.deps.clock,
      log: this.log,
      current: () => !this.stopped && this.links.get(link.name) === link,
    });
  }
}
