/**
 * An in-process CIP-22 pile for fuzz and unit tests: drives a gateway session through
 * `Cip22Gateway.attach()` (no TLS) with real HELLO / AUTH_RESP / sealed frames, and a
 * gateway built without a listener on a caller-owned clock and sink.
 */
import { readFileSync } from 'node:fs';
import type { Clock, TimerHandle } from '../../src/core/clock.js';
import { silentLogger, type Logger, type OnceResult, type OnceSink } from '../../src/core/ports.js';
import type { NewRecord, StoredRecord } from '../../src/core/types.js';
import {
  type Cip22Message,
  type SessionKeys,
  FrameDecoder,
  decodeMessage,
  deriveSessionKeys,
  encodeFrame,
  encodeMessage,
  sealFrame,
} from '../../src/cip22/codec/index.js';
import { Sm4GcmKey } from '../../src/crypto/sm4-gcm.js';
import { cip22Schema } from '../../src/cip22/config.js';
import { Cip22Gateway } from '../../src/cip22/gateway/gateway.js';
import type { PileSession } from '../../src/cip22/gateway/session.js';
import { authSignedInput, createEphemeral, loadRoots, signAuth } from '../../src/cip22/identity/index.js';
import { cip22Pki } from '../helpers/cip22-pki.js';

/** A clock that does not move by itself; cancelled timers are forgotten at once (bounded memory). */
export class StillClock implements Clock {
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  private next = 0;
  /** Starts a minute ahead: certificates the test PKI makes after this (notBefore = now) are already valid. */
  constructor(private current = Date.now() + 60_000) {}
  now(): number {
    return this.current;
  }
  monotonic(): number {
    return this.current;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    this.timers.set(id, { at: this.current + ms, fn });
    return { cancel: () => void this.timers.delete(id) };
  }
  get pending(): number {
    return this.timers.size;
  }
  /** Moves time and fires due timers in creation order. */
  advance(ms: number): void {
    this.current += ms;
    for (const [id, t] of [...this.timers]) {
      if (t.at > this.current || !this.timers.has(id)) continue;
      this.timers.delete(id);
      t.fn();
    }
  }
}

/** Counts what would be stored; keeps only the last key per pile (bounded). */
export class CountingSink implements OnceSink {
  records = 0;
  private readonly keys = new Set<string>();
  append(_record: NewRecord): void {
    this.records++;
  }
  appendDurable(_record: NewRecord): Promise<StoredRecord> {
    return Promise.reject(new Error('not used by the gateway'));
  }
  appendOnce(key: string, records: readonly NewRecord[]): Promise<OnceResult> {
    const fresh = !this.keys.has(key);
    if (fresh) this.records += records.length;
    this.keys.add(key);
    if (this.keys.size > 10_000) this.keys.clear();
    return Promise.resolve({ duplicate: !fresh, records: [] });
  }
  seenOnce(key: string): boolean {
    return this.keys.has(key);
  }
}

export function inprocGateway(
  clock: Clock,
  sink: OnceSink,
  overrides: Record<string, unknown> = {},
  logger: Logger = silentLogger,
): Cip22Gateway {
  const pki = cip22Pki();
  const config = cip22Schema.parse({
    enabled: true,
    host: '127.0.0.1',
    tls: { cert: pki.p256.server.certPem, key: { file: pki.p256.server.keyPem } },
    roots: [pki.sm2.root.certPem, pki.p256.root.certPem],
    // Signatures on the caller's thread: in-process handshakes complete within push().
    verify: { workers: 0 },
    ...overrides,
  });
  return new Cip22Gateway(config, {
    clock,
    logger,
    outbox: sink,
    roots: loadRoots(config.roots.map((p) => readFileSync(p))),
    tls: { cert: readFileSync(pki.p256.server.certPem), key: readFileSync(pki.p256.server.keyPem) },
  });
}

/** One pile connection without TLS: what the gateway writes is decoded into `inbox`. */
export class InprocPile {
  readonly session: PileSession;
  readonly inbox: Cip22Message[] = [];
  keys: SessionKeys | undefined;
  private upKey: Sm4GcmKey | undefined;
  writtenBytes = 0;
  ended = false;
  private readonly decoder = new FrameDecoder({ maxPayload: 65535 });
  private downOpen = false;
  private answered: ((type: 'AUTH_OK' | 'AUTH_FAIL') => void) | undefined;
  /** The gateway's answer to AUTH_RESP, for handshakes whose checks run in a worker. */
  readonly answer = new Promise<'AUTH_OK' | 'AUTH_FAIL'>((resolve) => (this.answered = resolve));

  constructor(
    gateway: Cip22Gateway,
    remote = '10.0.0.1',
    private readonly keepInbox = true,
  ) {
    this.session = gateway.attach(
      { write: (b) => this.onWrite(b), end: () => void (this.ended = true) },
      remote,
    );
  }

  /** Runs HELLO → AUTH_OK with the test PKI's P-256 (or SM2) pile; returns false when refused. */
  handshake(kind: 'p256' | 'sm2' = 'p256'): boolean {
    const pki = cip22Pki();
    const m = kind === 'sm2' ? pki.sm2 : pki.p256;
    const alg = kind === 'sm2' ? 'sm2' : 'ecdsa-p256';
    this.push(helloFrame(m.deviceId, kind));
    const challenge = this.inbox.find((x) => x.type === 'CHALLENGE');
    if (!challenge || challenge.type !== 'CHALLENGE') return false;
    const eph = createEphemeral(alg);
    const held = Buffer.alloc(32);
    const signed = authSignedInput(
      challenge.nonce,
      m.deviceId,
      held,
      eph.publicKey,
      challenge.gatewayEphemeralPub,
    );
    const resp = encodeMessage({
      type: 'AUTH_RESP',
      signature: signAuth(alg, m.pile.key, signed),
      pileCert: m.pile.der,
      issuerCert: m.issuing.der,
      pileEphemeralPub: eph.publicKey,
      policyHash: held,
    });
    this.keys = deriveSessionKeys(
      eph.computeSecret(challenge.gatewayEphemeralPub),
      m.deviceId,
      challenge.sessionId,
    );
    this.upKey = new Sm4GcmKey(this.keys.kUp);
    this.push(encodeFrame(resp.type, resp.payload));
    return this.session.isOpen;
  }

  /** The next sealed frame for `msg` at the session's current up seq. */
  sealed(msg: Cip22Message, seq = upSeq(this.session)): Buffer {
    const { type, payload } = encodeMessage(msg);
    return sealFrame(this.upKey as Sm4GcmKey, (this.keys as SessionKeys).ivUp, seq, type, payload);
  }

  push(bytes: Buffer): void {
    this.session.push(bytes);
  }

  private onWrite(frame: Buffer): void {
    this.writtenBytes += frame.length;
    if (!this.keepInbox || this.downOpen) return;
    for (const item of this.decoder.push(frame)) {
      if (item.kind !== 'frame') continue;
      const msg = decodeMessage(item.type, item.payload, '2.0');
      this.inbox.push(msg);
      if (msg.type === 'AUTH_OK') this.downOpen = true; // later frames are sealed
      if (msg.type === 'AUTH_OK' || msg.type === 'AUTH_FAIL') this.answered?.(msg.type);
    }
  }
}

export function helloFrame(deviceId: string, kind: 'p256' | 'sm2' = 'p256'): Buffer {
  const { type, payload } = encodeMessage({
    type: 'HELLO',
    deviceId,
    versions: [
      [2, 0],
      [1, 2],
    ],
    identityAlg: kind === 'sm2' ? 1 : 2,
  });
  return encodeFrame(type, payload);
}

/** The session's next expected up seq (white box: the fuzz keeps its sealed frames in step). */
export function upSeq(session: PileSession): number {
  return (session as unknown as { channel?: { nextUpSeq: number } }).channel?.nextUpSeq ?? 0;
}

/** Bytes the session's decoder holds between pushes (white box). */
export function bufferedBytes(session: PileSession): number {
  return (session as unknown as { decoder: { buffered: number } }).decoder.buffered;
}
