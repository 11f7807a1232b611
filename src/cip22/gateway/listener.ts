/**
 * The pile listener: plain TCP accept, admission (pre-authentication caps, one deadline
 * from accept to AUTH_OK), then TLS 1.3 on the admitted socket. Doing TLS on our own
 * TLSSocket instead of tls.Server is what lets a connection be counted, capped and
 * timed from its first moment: tls.Server shows a connection only once its handshake is
 * done, so one that never sends a ClientHello was invisible (and never closed).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, TLSSocket } from 'node:tls';
import type { Clock } from '../../core/clock.js';
import { normaliseAddress } from '../../core/allow-list.js';
import { Admission, type AdmissionLimits, type AdmissionRefusal, type Ticket } from './admission.js';

export interface ListenerHooks {
  /** TLS is done on an admitted connection. */
  secure(socket: TLSSocket, ticket: Ticket): void;
  /** The deadline passed before AUTH_OK on a connection that finished TLS. */
  handshakeTimeout(socket: TLSSocket): void;
  /** Counts a reason (status counters). */
  count(reason: string): void;
  /** A connection was closed at accept (cap reached): not logged one by one by the caller. */
  refusedAtAccept(source: string, reason: AdmissionRefusal): void;
  isStopping(): boolean;
}

export class PileListener {
  readonly admission: Admission;
  private server: Server | undefined;
  private readonly open = new Set<Socket>();
  private readonly context;

  constructor(
    tls: { readonly cert: string | Buffer; readonly key: string | Buffer },
    limits: AdmissionLimits,
    clock: Clock,
    private readonly hooks: ListenerHooks,
  ) {
    this.context = createSecureContext({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.3' });
    this.admission = new Admission(limits, clock);
  }

  /** TCP connections open (admitted, any phase). */
  get connections(): number {
    return this.open.size;
  }

  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  /** Resolves with the bound port; rejects with the listen error. */
  async listen(host: string, port: number, onError: (e: Error) => void): Promise<number> {
    const server = createServer((raw) => this.connection(raw));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', onError);
    const address = server.address();
    return typeof address === 'object' && address !== null ? address.port : port;
  }

  /** Stops accepting and destroys every connection still open. */
  async close(): Promise<void> {
    const server = this.server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const raw of this.open) raw.destroy();
    await closed;
  }

  private connection(raw: Socket): void {
    raw.on('error', () => undefined);
    if (this.hooks.isStopping()) return void raw.destroy();
    const address = raw.remoteAddress ?? 'unknown';
    const source = normaliseAddress(address)?.address ?? address;
    // The deadline's callback needs the TLS socket made after admission.
    const conn: { tls?: TLSSocket; secure: boolean } = { secure: false };
    const ticket = this.admission.admit(source, () => {
      if (conn.tls && conn.secure) this.hooks.handshakeTimeout(conn.tls);
      else this.hooks.count('handshake-timeout');
      conn.tls?.destroy();
      raw.destroy();
    });
    if (typeof ticket === 'string') {
      this.hooks.count(ticket);
      this.hooks.refusedAtAccept(source, ticket);
      return void raw.destroy();
    }
    this.open.add(raw);
    raw.once('close', () => {
      this.open.delete(raw);
      ticket.release();
    });
    const socket = new TLSSocket(raw, { isServer: true, secureContext: this.context });
    conn.tls = socket;
    socket.on('error', (error: Error & { code?: string }) => {
      if (!conn.secure) this.hooks.count(`tls-${error.code ?? 'error'}`);
      raw.destroy();
    });
    socket.once('secure', () => {
      conn.secure = true;
      this.hooks.secure(socket, ticket);
    });
  }
}
