/**
 * The UDP side of the DTU hub: the port server-mode DTUs send their datagrams to (links
 * identified by their registration, following NAT rebinding) and one connected socket
 * per client-mode link. Datagrams go to the links (udp-link.ts), which run them through
 * the same transport, liveness and status as TCP links.
 *
 * Which source a server link listens to (README "DTUs over UDP"):
 * - a datagram from the link's current source is the link's (a registration at its front
 *   is removed: some DTUs prefix every datagram with it);
 * - a datagram from any other source is read only if it starts with a link's
 *   registration (or is exactly a heartbeat configured on that one server link only: a
 *   heartbeat that carries the DTU's id identifies it as well) and its source passes `udpServer.allowFrom` and the link's `allowFrom`;
 *   it then binds the link when the link is down, or moves it (rebinding) when the link's
 *   current source has been silent for 1.5 heartbeat intervals or `replaceLive` is on —
 *   the rule a second TCP connection meets, so a stray or spoofed datagram never takes a
 *   live link; else it is refused and counted (`takeoverRefused`);
 * - anything else is dropped and counted (`unknownRegistrations`, `rejectedSource`),
 *   logged once a minute per source at most (a flood must not flood the journal).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { allowListOf, normaliseAddress, type AllowList } from '../../../core/allow-list.js';
import { DatagramPeer } from '../../../core/datagram-peer.js';
import { EdgeError } from '../../../core/errors.js';
import type { Logger } from '../../../core/ports.js';
import { patternBytes, type DtuConfig } from './config.js';
import type { DtuHubDeps } from './link.js';
import {
  compileRegistration,
  matchRegistration,
  MAX_REGISTRATION_BYTES,
  type CompiledRegistration,
} from './registration.js';
import { takeoverRefusal } from './takeover.js';
import type { UdpDtuLink } from './udp-link.js';

export interface DtuUdpServerStatus {
  readonly listening: boolean;
  readonly address: string | undefined;
  readonly port: number | undefined;
  readonly datagramsIn: number;
  /** Datagrams from a source bound to no link that carry no configured registration. */
  readonly unknownRegistrations: number;
  /** Datagrams from a source outside dtu.udpServer.allowFrom. */
  readonly rejectedSource: number;
}

const LOG_EVERY_MS = 60_000;

export class DtuUdpEndpoint {
  private server: Socket | undefined;
  private readonly registrations: CompiledRegistration[] = [];
  private readonly serverLinks = new Map<string, UdpDtuLink>();
  private readonly clientLinks: UdpDtuLink[] = [];
  /** `address:port` → the server link bound to that source. */
  private readonly bySource = new Map<string, UdpDtuLink>();
  private readonly linkAllow = new Map<string, AllowList>();
  /** Heartbeat bytes (latin1) → the one server link with that heartbeat; null when shared. */
  private readonly heartbeatOwner = new Map<string, UdpDtuLink | null>();
  private readonly listenerAllow: AllowList | undefined;
  private readonly counters = { datagramsIn: 0, unknownRegistrations: 0, rejectedSource: 0 };
  private readonly loggedAt = new Map<string, number>();
  /** Open client sockets and how each is ended. */
  private readonly clientSockets = new Map<Socket, () => void>();
  private readonly log: Logger;
  private stopped = false;

  constructor(
    private readonly config: DtuConfig,
    links: readonly UdpDtuLink[],
    private readonly deps: DtuHubDeps,
  ) {
    this.log = deps.logger.child({ component: 'dtu', transport: 'udp' });
    for (const link of links) {
      const l = link.config;
      if (l.mode === 'client') {
        this.clientLinks.push(link);
        continue;
      }
      this.serverLinks.set(l.name, link);
      this.registrations.push(compileRegistration(l.name, l.registration));
      const allow = allowListOf(l.allowFrom);
      if (allow) this.linkAllow.set(l.name, allow);
      if (l.heartbeat) {
        const key = patternBytes(l.heartbeat).toString('latin1');
        this.heartbeatOwner.set(key, this.heartbeatOwner.has(key) ? null : link);
      }
    }
    this.listenerAllow = allowListOf(config.udpServer?.allowFrom);
  }

  async start(): Promise<void> {
    if (this.registrations.length > 0) await this.bind();
    for (const link of this.clientLinks) this.dial(link);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const end of [...this.clientSockets.values()]) end();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  address(): { host: string; port: number } | undefined {
    if (!this.server) return undefined;
    const a = this.server.address();
    return { host: a.address, port: a.port };
  }

  status(): DtuUdpServerStatus {
    const a = this.address();
    return { listening: a !== undefined, address: a?.host, port: a?.port, ...this.counters };
  }

  // --- server ---------------------------------------------------------------------

  private bind(): Promise<void> {
    const cfg = this.config.udpServer!;
    const server = createSocket(isIPv6(cfg.host) ? 'udp6' : 'udp4');
    return new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        server.close();
        reject(
          new EdgeError(
            'EDGE_ERR_DTU_LISTEN',
            `DTU UDP port cannot bind ${cfg.host}:${cfg.port}: ${err.message}`,
            {
              cause: err,
            },
          ),
        );
      };
      server.once('error', onError);
      server.bind(cfg.port, cfg.host, () => {
        server.off('error', onError);
        this.server = server;
        server.on('error', (err) => this.log.error({ err: err.message }, 'DTU UDP port error'));
        server.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
        this.log.info({ host: cfg.host, port: this.address()?.port }, 'DTU UDP port up');
        resolve();
      });
    });
  }

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.stopped) return;
    this.counters.datagramsIn++;
    const source = normaliseAddress(rinfo.address)?.address ?? rinfo.address;
    const key = `${rinfo.address}:${rinfo.port}`;
    if (this.listenerAllow && !this.listenerAllow.allows(source)) {
      this.counters.rejectedSource++;
      this.logLimited(
        source,
        'source',
        {
          remote: key,
          code: 'EDGE_ERR_DTU_SOURCE_REFUSED',
          rejectedSource: this.counters.rejectedSource,
        },
        'DTU datagram dropped: source not in dtu.udpServer.allowFrom (further ones this minute only counted)',
      );
      return;
    }
    const bound = this.bySource.get(key);
    if (bound && bound.up) {
      const own = this.registrations.filter((r) => r.name === bound.name);
      const m = matchRegistration(msg.subarray(0, MAX_REGISTRATION_BYTES), own, true);
      const prefix = m.kind === 'match' ? m.consumed : 0;
      return bound.receive(msg.subarray(prefix), prefix);
    }
    const m = matchRegistration(msg.subarray(0, MAX_REGISTRATION_BYTES), this.registrations, true);
    const byHeartbeat = m.kind === 'match' ? undefined : this.heartbeatOwner.get(msg.toString('latin1'));
    if (m.kind !== 'match' && !byHeartbeat) {
      this.counters.unknownRegistrations++;
      this.logLimited(
        source,
        'unknown',
        {
          remote: key,
          code: 'EDGE_ERR_DTU_UNKNOWN_REGISTRATION',
          hex: msg.subarray(0, 64).toString('hex'),
          unknownRegistrations: this.counters.unknownRegistrations,
        },
        'DTU datagram from an unbound source matches no registration; dropped (further ones this minute only counted)',
      );
      return;
    }
    const link = m.kind === 'match' ? this.serverLinks.get(m.name)! : byHeartbeat!;
    const consumed = m.kind === 'match' ? m.consumed : 0;
    const refusal = takeoverRefusal(link, source, this.linkAllow.get(link.name), this.deps.clock.monotonic());
    if (refusal !== undefined) {
      this.logLimited(
        source,
        `refused:${link.name}`,
        {
          remote: key,
          link: link.name,
          current: link.remote,
          code: 'EDGE_ERR_DTU_SOURCE_REFUSED',
        },
        `DTU registration datagram refused: ${refusal}`,
      );
      return;
    }
    this.follow(link, rinfo, key);
    link.receive(msg.subarray(consumed), consumed);
  }

  /** Binds a down link to the source, or moves a live one there. */
  private follow(link: UdpDtuLink, rinfo: RemoteInfo, key: string): void {
    for (const [k, l] of this.bySource) if (l === link) this.bySource.delete(k);
    this.bySource.set(key, link);
    if (link.up && link.peer && !link.peer.destroyed) return link.rebind(rinfo.address, rinfo.port);
    const server = this.server!;
    const peer = new DatagramPeer(
      (data, port, address) =>
        server.send(data, port, address, (err) => {
          if (err) this.log.debug({ dtu: link.name, err: err.message }, 'DTU datagram not sent');
        }),
      rinfo.address,
      rinfo.port,
    );
    peer.once('close', () => {
      for (const [k, l] of this.bySource) if (l === link && link.peer === peer) this.bySource.delete(k);
    });
    this.log.info({ remote: key, link: link.name }, 'DTU registered (udp)');
    link.attachPeer(peer);
  }

  private logLimited(source: string, kind: string, fields: Record<string, unknown>, message: string): void {
    const now = this.deps.clock.monotonic();
    const key = `${kind}|${source}`;
    const last = this.loggedAt.get(key);
    if (last !== undefined && now - last < LOG_EVERY_MS) return;
    if (this.loggedAt.size >= 10_000) this.loggedAt.clear();
    this.loggedAt.set(key, now);
    this.log.warn(fields, message);
  }

  // --- client ---------------------------------------------------------------------

  /** A connected socket: the kernel drops datagrams from any other source. */
  private dial(link: UdpDtuLink): void {
    if (this.stopped || link.config.mode !== 'client') return;
    const cfg = link.config;
    link.dialTimer = undefined;
    link.nextDialInMs = undefined;
    const sock = createSocket(isIPv6(cfg.host) ? 'udp6' : 'udp4');
    let peer: DatagramPeer | undefined;
    let closed = false;
    const end = (): void => {
      if (closed) return;
      closed = true;
      this.clientSockets.delete(sock);
      sock.close();
      if (this.stopped) return;
      const ms = link.backoff!.next();
      link.nextDialInMs = ms;
      this.log.warn({ dtu: cfg.name, host: cfg.host, port: cfg.port, inMs: ms }, 'DTU UDP re-open scheduled');
      link.dialTimer = this.deps.clock.setTimeout(() => this.dial(link), ms);
    };
    this.clientSockets.set(sock, end);
    sock.on('error', (err) => {
      this.log.debug({ dtu: cfg.name, err: err.message }, 'DTU UDP socket error');
      if (peer)
        peer.destroy(); // ICMP unreachable: nobody listens there
      else {
        link.counters.connectFailures++;
        end();
      }
    });
    sock.on('message', (msg) => link.receive(msg, 0));
    sock.connect(cfg.port, cfg.host, () => {
      if (this.stopped) return end();
      const p = new DatagramPeer(
        (data) =>
          sock.send(data, (err) => {
            if (!err) return;
            this.log.debug({ dtu: cfg.name, err: err.message }, 'DTU datagram not sent');
            // ICMP port unreachable: nothing listens there (a TCP dial would be refused).
            if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') p.destroy();
          }),
        cfg.host,
        cfg.port,
      );
      peer = p;
      p.once('close', end);
      link.backoff!.reset();
      link.attachPeer(p);
    });
  }
}
