/**
 * The DTU simulator's UDP side. Each agent association is a DatagramPeer handed to the
 * simulator as its connection, so registration, heartbeats, the serial bridge and the
 * fault stage run unchanged and every write becomes one datagram.
 *
 * Dial mode: every (re-)dial opens a new socket, hence a new source port, and sends the
 * registration from it (a DTU behind a NAT whose mapping changed). Listen mode: the
 * agent's first datagram opens the association; a datagram from another source replaces
 * it (as a new TCP connection does).
 */
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { isIPv6, type AddressInfo, type Socket } from 'node:net';
import type { Clock } from '../../core/clock.js';
import { DatagramPeer } from '../../core/datagram-peer.js';

export interface SimUdpHost {
  /** Makes the peer the simulator's connection (registration, heartbeats, bridge). */
  attach(peer: Socket): void;
  closing(): boolean;
  readonly clock: Clock;
  /** Dial mode: drop the association after this long (0: never); the re-dial comes from a new port. */
  readonly rebindEveryMs: number;
  log(level: 'info' | 'warn' | 'debug', message: string): void;
}

export class SimUdp {
  private readonly sockets = new Set<DgramSocket>();
  private listener: DgramSocket | undefined;
  private current: DatagramPeer | undefined;

  constructor(private readonly host: SimUdpHost) {}

  dial(agent: { host: string; port: number }): void {
    const sock = this.open(agent.host);
    sock.bind(0, () => {
      if (this.host.closing()) return void this.close1(sock);
      const peer = new DatagramPeer(this.sender(sock), agent.host, agent.port);
      sock.on('message', (msg) => peer.deliver(msg));
      const rebind =
        this.host.rebindEveryMs > 0
          ? this.host.clock.setTimeout(() => peer.destroy(), this.host.rebindEveryMs)
          : undefined;
      peer.once('close', () => {
        rebind?.cancel();
        void this.close1(sock);
      });
      this.host.log('info', `udp: sending from port ${sock.address().port}`);
      this.host.attach(peer as unknown as Socket);
    });
  }

  listen(where: { port: number; host?: string }): Promise<void> {
    const host = where.host ?? '0.0.0.0';
    const sock = this.open(host);
    this.listener = sock;
    const send = this.sender(sock);
    sock.on('message', (msg, rinfo) => {
      if (this.host.closing()) return;
      const c = this.current;
      if (c && !c.destroyed && c.remoteAddress === rinfo.address && c.remotePort === rinfo.port)
        return c.deliver(msg);
      if (c && !c.destroyed) {
        this.host.log(
          'info',
          `udp: agent datagram from ${rinfo.address}:${rinfo.port} replaces ${c.remoteAddress}:${c.remotePort}`,
        );
        c.destroy();
      }
      const peer = new DatagramPeer(send, rinfo.address, rinfo.port);
      this.current = peer;
      this.host.attach(peer as unknown as Socket);
      peer.deliver(msg);
    });
    return new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(where.port, host, () => {
        sock.off('error', reject);
        this.host.log('info', `udp: listening on ${host}:${sock.address().port}`);
        resolve();
      });
    });
  }

  address(): AddressInfo | undefined {
    return this.listener?.address();
  }

  close(): Promise<void> {
    this.current?.destroy();
    return Promise.all([...this.sockets].map((s) => this.close1(s))).then(() => undefined);
  }

  private sender(sock: DgramSocket): (data: Buffer, port: number, address: string) => void {
    return (data, port, address) =>
      sock.send(data, port, address, (err) => {
        if (err) this.host.log('debug', `datagram not sent: ${err.message}`);
      });
  }

  private open(host: string): DgramSocket {
    const sock = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    sock.on('error', (err) => this.host.log('warn', `udp socket error: ${err.message}`));
    this.sockets.add(sock);
    return sock;
  }

  private close1(sock: DgramSocket): Promise<void> {
    if (!this.sockets.delete(sock)) return Promise.resolve();
    return new Promise((resolve) => sock.close(() => resolve()));
  }
}
