/**
 * The CIP-22 gateway: a TLS 1.3 listener piles dial into, one PileSession per connection,
 * one PileMachine per pile (kept across its sessions), durable ACK through the outbox's
 * exactly-once groups, commands from the CommandChannel. Limits: max sessions, handshake
 * timeout, per-address handshake rate. See docs/cip22.md.
 */
import type { TLSSocket } from 'node:tls';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { EdgeError } from '../../core/errors.js';
import type { CommandChannel, Logger, OnceSink } from '../../core/ports.js';
import { type Cip22Message, type Cip22Version, policyHash } from '../codec/index.js';
import { CertificateCache, EphemeralStock, VerifyPool, type ParsedCertificate } from '../identity/index.js';
import type { Cip22Config } from '../config.js';
import { type Effect, PileMachine, type PileState } from '../state/machine.js';
import type { Ticket } from './admission.js';
import { CommandRouter, cmdFrames, type PileCommandOptions } from './commands.js';
import { CrlFiles } from './crl-files.js';
import { PileListener } from './listener.js';
import { ReasonLog } from './reason-log.js';
import { type DataMessage, effectRecord, frameRecord, withEffects } from './records.js';
import { PileSession, type SessionHost, type SessionIo } from './session.js';
import { PileDeadlines } from './deadlines.js';
import { SeqMarks, onceKey } from './seq-marks.js';

export interface GatewayDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly outbox: OnceSink;
  readonly roots: readonly ParsedCertificate[];
  /** TLS server identity (PEM). */
  readonly tls: { readonly cert: string | Buffer; readonly key: string | Buffer };
  readonly commands?: CommandChannel;
  /** Freshness, durable ids and size bound of pile commands (default: RAM ids, defaults). */
  readonly commandOptions?: PileCommandOptions;
}

export interface PileStatus {
  readonly state: PileState;
  readonly online: boolean;
  readonly version: Cip22Version | null;
  readonly remote: string | null;
  readonly pendingCommands: number;
}

/** Recently accepted AUTH_RESP signatures kept for replay detection. */
const REPLAY_CACHE = 100_000;

/** After our FIN, a peer that neither reads nor closes is destroyed this much later. */
const CLOSE_GRACE_MS = 2000;

export class Cip22Gateway implements SessionHost {
  readonly config: Cip22Config;
  readonly roots: readonly ParsedCertificate[];
  readonly policyHash: Buffer;
  readonly verifiedLinks = new Set<string>();
  readonly certificates = new CertificateCache();
  readonly signatures: VerifyPool;
  readonly ephemerals: EphemeralStock;
  private crls: CrlFiles | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly outbox: OnceSink;
  private readonly listener: PileListener;
  private readonly sessions = new Set<PileSession>();
  private readonly sockets = new Map<PileSession, TLSSocket>();
  private readonly bySocket = new Map<TLSSocket, PileSession>();
  private readonly tickets = new Map<PileSession, Ticket>();
  private readonly handshakeTimers = new Map<PileSession, TimerHandle>();
  private readonly byPile = new Map<string, PileSession>();
  private readonly machines = new Map<string, PileMachine>();
  private readonly deadlines: PileDeadlines;
  private readonly seqs: SeqMarks;
  private readonly floors = new Map<string, Cip22Version>();
  private readonly replays = new Set<string>();
  private readonly counters = new Map<string, number>();
  private readonly router: CommandRouter | undefined;
  private handshakes = 0;
  private readonly reasons: ReasonLog;
  private stopping = false;

  constructor(config: Cip22Config, deps: GatewayDeps) {
    this.config = config;
    this.clock = deps.clock;
    this.log = deps.logger;
    this.outbox = deps.outbox;
    this.seqs = new SeqMarks(deps.outbox);
    this.deadlines = new PileDeadlines(deps.clock, (pile, machine) => this.deadlineDue(pile, machine));
    this.roots = deps.roots;
    this.policyHash = policyHash(config.policy.windows);
    this.reasons = new ReasonLog(deps.logger, deps.clock);
    this.signatures = new VerifyPool(config.verify);
    this.ephemerals = new EphemeralStock(this.signatures);
    this.router = deps.commands
      ? new CommandRouter(
          deps.commands,
          config.allowCommands,
          {
            machine: (pile) => this.machines.get(pile),
            apply: (pile, effects) => this.applyOutside(pile, effects),
            log: this.log,
            now: () => this.clock.now(),
          },
          deps.commandOptions,
        )
      : undefined;
    for (const pile of Object.keys(config.piles)) this.router?.watch(pile);
    this.listener = new PileListener(deps.tls, config, deps.clock, {
      secure: (socket, ticket) => this.accept(socket, ticket),
      handshakeTimeout: (socket) =>
        this.bySocket.get(socket)?.refuse('handshake-timeout', 'no AUTH in time (from TCP accept)'),
      count: (reason) => this.count(reason),
      refusedAtAccept: (source, reason) =>
        this.reasons.warn(
          reason,
          { code: 'EDGE_ERR_CIP22_AUTH_FAILED', remote: source },
          'cip22: connection closed at accept (pre-authentication cap)',
        ),
      isStopping: () => this.stopping,
    });
  }

  /** Listens on host:port (port 0 picks one). Rejects with EDGE_ERR_CIP22_LISTEN. */
  async start(): Promise<number> {
    if (this.config.crls.length > 0 && !this.crls)
      this.crls = await CrlFiles.open(this.config.crls, this.log, this.crlPollMs);
    // No server.maxConnections: Node would drop the socket silently; accept() refuses over
    // maxSessions with AUTH_FAIL too-many-sessions, counted and logged. What is capped at
    // TCP accept (before TLS) is pre-authentication connections: see admission.ts.
    const host = this.config.host ?? '127.0.0.1';
    try {
      this.port = await this.listener.listen(host, this.config.port, (e) =>
        this.log.error({ code: 'EDGE_ERR_CIP22_LISTEN', err: e.message }, 'cip22 listener error'),
      );
      return this.port;
    } catch (e) {
      throw new EdgeError(
        'EDGE_ERR_CIP22_LISTEN',
        `cip22: cannot listen on ${host}:${this.config.port}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  /** Closes the listener and every session (shutting-down), then the piles go OFFLINE. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.router?.close();
    for (const session of [...this.sessions]) session.refuse('shutting-down', 'gateway stopping');
    for (const socket of this.sockets.values()) socket.destroy();
    const closed = this.listener.close();
    this.crls?.close();
    await this.signatures.close();
    this.deadlines.stop();
    await closed;
  }

  /** Feeds a connection that is already past TLS (tests, fuzz): the listener's path, with its own AUTH deadline. */
  attach(io: SessionIo, remote: string): PileSession {
    const session = this.open(io, remote);
    this.handshakeTimers.set(
      session,
      this.clock.setTimeout(
        () => session.refuse('handshake-timeout', 'no AUTH in time'),
        this.config.handshakeTimeoutMs,
      ),
    );
    return session;
  }

  /** A new session; its AUTH deadline is the caller's (the listener's runs from TCP accept). */
  private open(io: SessionIo, remote: string): PileSession {
    const session = new PileSession(this, io, remote);
    session.policyMessage = this.policyMessage;
    this.sessions.add(session);
    this.handshakes++;
    return session;
  }

  /** The SET_POLICY for a pile whose policy hash differs: one function for every session. */
  private readonly policyMessage = (): Cip22Message => ({
    type: 'SET_POLICY',
    policy: this.config.policy.windows,
    policyHash: this.policyHash,
  });

  // ---------------------------------------------------------------- SessionHost

  now(): number {
    return this.clock.now();
  }

  revoked(cert: ParsedCertificate): boolean {
    return this.crls?.isRevoked(cert) ?? false;
  }

  /** The bound port once started. */
  port: number | undefined;

  /** How often the CRL files are checked for changes (tests shorten it before start()). */
  crlPollMs = 10_000;

  count(reason: string): void {
    this.counters.set(reason, (this.counters.get(reason) ?? 0) + 1);
  }

  replayed(digest: string): boolean {
    if (this.replays.has(digest)) return true;
    this.replays.add(digest);
    if (this.replays.size > REPLAY_CACHE) this.replays.delete(this.replays.values().next().value as string);
    return false;
  }

  versionFloor(deviceId: string): Cip22Version | undefined {
    return this.floors.get(deviceId);
  }

  authenticated(session: PileSession, version: Cip22Version): PileMachine {
    const pile = session.deviceId as string;
    this.handshakeTimers.get(session)?.cancel();
    this.handshakeTimers.delete(session);
    this.tickets.get(session)?.authenticated();
    this.tickets.delete(session);
    const previous = this.byPile.get(pile);
    if (previous && previous !== session) previous.close('replaced');
    this.byPile.set(pile, session);
    if (version > (this.floors.get(pile) ?? '')) this.floors.set(pile, version);
    let machine = this.machines.get(pile);
    if (!machine) {
      machine = new PileMachine({
        heartbeatMs: this.config.heartbeatMs,
        upgradeTimeoutMs: this.config.upgradeTimeoutMs,
        firstWireId: (this.clock.now() / 1000) >>> 0,
      });
      this.machines.set(pile, machine);
      this.router?.watch(pile);
    }
    this.applyOutside(pile, machine.authOk(this.clock.now()));
    this.count('authenticated');
    return machine;
  }

  async data(session: PileSession, msg: DataMessage): Promise<number | null> {
    const pile = session.deviceId as string;
    const machine = this.machines.get(pile) as PileMachine;
    const key = onceKey(pile, msg.msgSeq);
    const now = this.clock.now();
    const record = frameRecord(pile, now, msg);
    if (this.seqs.seen(pile, msg.msgSeq)) {
      this.count('duplicate');
      await this.outbox.appendOnce(key, [record]);
      return msg.msgSeq;
    }
    const effects = machine.data(msg, now);
    this.sendCommands(session, effects);
    this.deadlines.arm(pile, machine);
    await this.outbox.appendOnce(key, withEffects(record, pile, now, effects));
    this.router?.publish(pile, effects);
    return msg.msgSeq;
  }

  ended(session: PileSession, reason: string): void {
    this.sessions.delete(session);
    this.tickets.delete(session);
    this.handshakeTimers.get(session)?.cancel();
    this.handshakeTimers.delete(session);
    const pile = session.deviceId;
    if (pile !== undefined && this.byPile.get(pile) === session) {
      this.byPile.delete(pile);
      const machine = this.machines.get(pile);
      if (machine)
        this.applyOutside(
          pile,
          machine.closed(
            reason === 'heartbeat-timeout' ? 'heartbeat-lost' : 'session-closed',
            this.clock.now(),
          ),
        );
    }
  }

  refused(session: PileSession, counted: string, text: string, duringHandshake: boolean): void {
    if (counted === 'shutting-down') return;
    // The text names the frame or field at fault; it never carries key material or payload bytes.
    this.reasons.warn(
      counted,
      {
        code: duringHandshake ? 'EDGE_ERR_CIP22_AUTH_FAILED' : 'EDGE_ERR_CIP22_SESSION',
        pile: session.deviceId ?? null,
        remote: session.remote,
        detail: text,
      },
      duringHandshake ? 'cip22: pile refused' : 'cip22: session closed on error',
    );
  }

  // ---------------------------------------------------------------- internals

  private accept(socket: TLSSocket, ticket: Ticket): void {
    const remote = socket.remoteAddress ?? 'unknown';
    socket.on('error', () => undefined);
    if (this.stopping) return void socket.destroy();
    const refusal =
      this.sessions.size >= this.config.maxSessions
        ? 'too-many-sessions'
        : this.listener.admission.overRate(remote, this.config.perIpHandshakesPerMinute)
          ? 'rate-limited'
          : null;
    const end = (): void => {
      // Closed by the peer already: end() would only build an error and arm a timer for nothing.
      if (socket.destroyed) return;
      socket.end();
      const grace = this.clock.setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
      socket.once('close', () => grace.cancel());
    };
    const session = this.open({ write: (b) => void socket.write(b), end }, remote);
    this.sockets.set(session, socket);
    this.bySocket.set(socket, session);
    this.tickets.set(session, ticket);
    socket.on('data', (chunk: Buffer) => session.push(chunk));
    socket.on('close', () => {
      this.sockets.delete(session);
      this.bySocket.delete(socket);
      session.close('peer-closed');
    });
    if (refusal) session.refuse(refusal, refusal);
  }

  /** Effects that arise outside a data frame (auth, close, timeouts, commands): stored as they come. */
  private applyOutside(pile: string, effects: Effect[]): void {
    if (effects.length === 0) return;
    const now = this.clock.now();
    for (const e of effects) {
      const r = effectRecord(pile, now, e);
      if (r) {
        try {
          this.outbox.append(r);
        } catch (error) {
          this.log.error({ pile, err: (error as Error).message }, 'cip22: event not stored');
        }
      }
    }
    const session = this.byPile.get(pile);
    if (session) this.sendCommands(session, effects);
    this.router?.publish(pile, effects);
    const machine = this.machines.get(pile);
    if (machine) this.deadlines.arm(pile, machine);
  }

  private sendCommands(session: PileSession, effects: Effect[]): void {
    for (const cmd of cmdFrames(effects)) session.send(cmd);
  }

  /** A pile's deadline timer fired: a silent pile goes OFFLINE and its session ends. */
  private deadlineDue(pile: string, machine: PileMachine): void {
    const effects = machine.check(this.clock.now());
    const silent = effects.some((e) => e.kind === 'transition' && e.to === 'OFFLINE');
    if (silent) {
      const session = this.byPile.get(pile);
      this.byPile.delete(pile);
      session?.refuse('heartbeat-timeout', `no frame for ${3 * this.config.heartbeatMs} ms`);
    }
    this.applyOutside(pile, effects);
    if (!silent && effects.length === 0) this.deadlines.arm(pile, machine);
  }

  // ---------------------------------------------------------------- status

  status(): Record<string, unknown> {
    const piles: Record<string, PileStatus> = {};
    for (const [pile, machine] of this.machines) {
      const session = this.byPile.get(pile);
      piles[pile] = {
        state: machine.state,
        online: session !== undefined,
        version: session?.version ?? null,
        remote: session?.remote ?? null,
        pendingCommands: machine.pendingCommands,
      };
    }
    return {
      listening: this.listener.listening,
      sessions: this.sessions.size,
      connections: this.listener.connections,
      preAuth: this.listener.admission.pending,
      verify: { queued: this.signatures.queueLength, ...this.signatures.counters },
      crl: this.crls ? { revoked: this.crls.revokedCount, loads: this.crls.loads } : null,
      authenticated: this.byPile.size,
      handshakes: this.handshakes,
      counters: Object.fromEntries(this.counters),
      piles,
      commandsRefused: this.commandRefusals(),
    };
  }

  /** Pile commands refused before they ran, by reason (retained, expired, duplicate…). */
  commandRefusals(): Readonly<Record<string, number>> {
    return this.router?.refusals() ?? {};
  }

  /** Count of one reason (tests, metrics). */
  counter(reason: string): number {
    return this.counters.get(reason) ?? 0;
  }

  pileState(pile: string): PileState | undefined {
    return this.machines.get(pile)?.state;
  }
}
