/**
 * One pile connection, transport-agnostic: bytes in through `push`, frames out through
 * `io.write`, end through `io.end`. Phases: HELLO → CHALLENGE → AUTH_RESP → AUTH_OK, then
 * (v2.0) sealed frames with a per-direction seq. A peer's bad bytes end the session with
 * an ERROR (AUTH_FAIL during the handshake) carrying a reason code, and are counted;
 * nothing a peer sends can throw out of `push`. What the gateway gives a session:
 * session-host.ts; the checks of a HELLO: hello-checks.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  type Cip22Message,
  type Cip22ReasonName,
  type Cip22Version,
  Cip22ProtocolError,
  CIP22_REASONS,
  FrameDecoder,
  type FrameSink,
  FrameType,
  ackPayload,
  decodeMessage,
  encodeFrame,
  encodeMessage,
  versionPair,
} from '../codec/index.js';
import {
  type ChainResult,
  type Ephemeral,
  type IdentityAlg,
  type AuthJob,
  type SignatureJob,
  type VerifyOutcome,
  VerifyBusy,
  authJob,
  authSignedInput,
  certJob,
  createEphemeral,
  runJob,
  runVerifyJob,
  verifyPileChainWith,
} from '../identity/index.js';
import type { PileMachine } from '../state/machine.js';
import { SealedChannel } from './channel.js';
import { helloAlg, helloVersion } from './hello-checks.js';
import { CHAIN_REASONS, COUNTED_AS_FAILURE, Refusal, then } from './refusal.js';
import type { SessionHost, SessionIo } from './session-host.js';

export type { SessionHost, SessionIo } from './session-host.js';

type AuthResp = Extract<Cip22Message, { type: 'AUTH_RESP' }>;

/** 'verifying': AUTH_RESP is being checked (signatures possibly in a worker); no frame may come. */
type Phase = 'hello' | 'auth' | 'verifying' | 'open' | 'closed';

export class PileSession {
  deviceId: string | undefined;
  version: Cip22Version | undefined;
  /** How the session ended, once it has. */
  endReason: string | undefined;
  readonly openedAt: number;
  private phase: Phase = 'hello';
  private readonly decoder: FrameDecoder;
  private alg: IdentityAlg | undefined;
  private nonce: Buffer | undefined;
  private sessionId: Buffer | undefined;
  private challengeAt = 0;
  private ephemeral: Ephemeral | undefined;
  /** Set at AUTH_OK in a v2.0 session: every later frame is sealed. */
  private channel: SealedChannel | undefined;
  private machine: PileMachine | undefined;
  /** The AUTH outcome computed in the pile certificate's hop (SM2 first contact), for that key. */
  private paired: { readonly key: Buffer; readonly outcome: VerifyOutcome } | undefined;

  constructor(
    private readonly host: SessionHost,
    private readonly io: SessionIo,
    readonly remote: string,
  ) {
    this.decoder = new FrameDecoder({ maxPayload: host.config.maxPayload });
    this.openedAt = host.now();
  }

  get isOpen(): boolean {
    return this.phase === 'open';
  }

  get isClosed(): boolean {
    return this.phase === 'closed';
  }

  /** Frames straight from the decoder, as views into its buffer (one sink per session). */
  private readonly frames: FrameSink = {
    frame: (type, header, payload) => this.onFrame(type, header, payload),
    tooLong: (length) => {
      throw new Cip22ProtocolError('frame-too-long', `frame payload ${length} > ${this.decoder.maxPayload}`);
    },
  };

  /** Bytes from the pile. Never throws. */
  push(chunk: Buffer): void {
    if (this.phase === 'closed') return;
    try {
      this.decoder.feed(chunk, this.frames);
    } catch (error) {
      this.fail(error);
    }
  }

  /** Sends a message: sealed in an open v2.0 session, plain otherwise. */
  send(msg: Cip22Message): void {
    if (this.phase === 'closed') return;
    const { type, payload } = encodeMessage(msg);
    this.write(type, payload);
  }

  private write(type: number, payload: Buffer): void {
    this.io.write(
      this.channel && this.phase === 'open' ? this.channel.seal(type, payload) : encodeFrame(type, payload),
    );
  }

  /** Ends the session with an ERROR (or AUTH_FAIL during the handshake) frame. */
  refuse(reason: Cip22ReasonName, text: string, counted: string = reason): void {
    if (this.phase === 'closed') return;
    const code = CIP22_REASONS[reason];
    const duringHandshake = this.phase !== 'open';
    try {
      this.send(
        duringHandshake ? { type: 'AUTH_FAIL', reason: code, text } : { type: 'ERROR', reason: code, text },
      );
    } catch {
      /* the frame could not be encoded or written: close anyway */
    }
    this.close(counted);
    this.host.refused(this, counted, text, duringHandshake);
  }

  /** Ends the session without a frame (peer closed, replaced, shutdown after ERROR). */
  close(reason: string): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.endReason = reason;
    this.decoder.stop();
    this.host.count(reason);
    this.host.ended(this, reason);
    this.io.end();
  }

  // ---------------------------------------------------------------- frames

  /** header and payload are views into the decoder's input: only a sealed payload's plaintext (a copy) may be kept. */
  private onFrame(type: number, header: Buffer, payload: Buffer): void {
    if (this.phase === 'closed') return; // a frame already in the decoder when the session closed
    payload =
      this.phase === 'open' && this.channel ? this.channel.open(header, payload) : Buffer.from(payload);
    const msg = decodeMessage(type, payload, this.version ?? '1.2');
    switch (this.phase) {
      case 'hello':
        return this.onHello(msg);
      case 'auth':
        return this.onAuthResp(msg);
      case 'verifying':
        throw new Cip22ProtocolError('unexpected-frame', `${msg.type} before AUTH_OK`);
      case 'open':
        return this.onSessionFrame(msg);
    }
  }

  private onHello(msg: Cip22Message): void {
    if (msg.type !== 'HELLO') throw new Cip22ProtocolError('unexpected-frame', `${msg.type} before HELLO`);
    const alg = helloAlg(msg, this.host);
    const version = helloVersion(msg, this.host);
    this.deviceId = msg.deviceId;
    this.alg = alg;
    this.version = version;
    this.nonce = randomBytes(16);
    this.sessionId = randomBytes(16);
    this.ephemeral = this.host.ephemerals?.take(alg) ?? createEphemeral(alg);
    this.challengeAt = this.host.now();
    this.phase = 'auth';
    this.send({
      type: 'CHALLENGE',
      nonce: this.nonce,
      validityMs: this.host.config.nonceValidityMs,
      policyHash: this.host.policyHash,
      selectedVersion: versionPair(version),
      gatewayEphemeralPub: this.ephemeral.publicKey,
      sessionId: this.sessionId,
    });
  }

  private onAuthResp(msg: Cip22Message): void {
    if (msg.type !== 'AUTH_RESP')
      throw new Cip22ProtocolError('unexpected-frame', `${msg.type} instead of AUTH_RESP`);
    const now = this.host.now();
    if (now - this.challengeAt > this.host.config.nonceValidityMs)
      throw new Refusal('nonce-expired', 'nonce-expired', 'AUTH_RESP after the nonce validity');
    this.phase = 'verifying';
    const chain = verifyPileChainWith(
      {
        pileDer: msg.pileCert,
        issuerDer: msg.issuerCert,
        roots: this.host.roots,
        nowMs: now,
        expectedCN: this.deviceId as string,
        expectedAlg: this.alg as IdentityAlg,
        verifiedLinks: this.host.verifiedLinks,
        cache: this.host.certificates,
        allowRootIssued: this.host.config.allowRootIssuedPiles,
        revoked: this.host.revoked?.bind(this.host),
      },
      (job) => this.verify(job, msg),
    );
    const inline = !(chain instanceof Promise);
    then(
      chain,
      (c) => this.afterChain(msg, c, now, inline),
      (e) => this.fail(e),
    );
  }

  private verify(job: SignatureJob, msg: AuthResp): boolean | Promise<boolean> {
    const { signatures } = this.host;
    if (!signatures) return runVerifyJob(certJob(job));
    const pileKey = job.pileKey65;
    // SM2 first contact: the AUTH signature and ECDH ride in the pile certificate's worker hop.
    const auth = pileKey && this.alg === 'sm2' && signatures.threaded === true && this.pairable(msg, pileKey);
    if (!pileKey || !auth) return signatures.verify(certJob(job), this.remote);
    const outcome = signatures.run({ kind: 'cert+auth', cert: certJob(job), auth }, this.remote);
    const settle = (o: VerifyOutcome): boolean => {
      this.paired = o.auth && { key: pileKey, outcome: o.auth };
      return o.ok;
    };
    return outcome instanceof Promise ? outcome.then(settle) : settle(outcome);
  }

  private afterChain(msg: AuthResp, chain: ChainResult, now: number, inline: boolean): void {
    if (this.phase !== 'verifying') return;
    if (!chain.ok) {
      const counted = COUNTED_AS_FAILURE.has(chain.reason) ? chain.reason : CHAIN_REASONS[chain.reason];
      throw new Refusal(CHAIN_REASONS[chain.reason], counted, `certificate chain: ${chain.detail}`);
    }
    const key = chain.pile.publicKey65;
    if (!key) throw new Refusal('bad-signature', 'bad-signature', 'pile certificate has no usable key');
    // An inline chain (P-256), signature and ECDH, then keys and AUTH_OK, were one ~1.5 ms
    // turn (issue 16: none > 1 ms); now three. No frame may come until AUTH_OK ('verifying').
    if (inline && this.host.signatures?.threaded === true)
      this.later(() => this.checkSignature(msg, key, now));
    else this.checkSignature(msg, key, now);
  }

  private later(fn: () => void): void {
    setImmediate(() => {
      try {
        fn();
      } catch (error) {
        this.fail(error);
      }
    });
  }

  /** The AUTH job, or false when its input is malformed: that is refused after the chain, as without pairing. */
  private pairable(msg: AuthResp, key: Buffer): AuthJob | false {
    try {
      return this.authJob(msg, key);
    } catch {
      return false;
    }
  }

  /** The AUTH signature check; on SM2 with a pool, with the session's ECDH (~1.4 ms of curve arithmetic) in the same hop. */
  private authJob(msg: AuthResp, key: Buffer): AuthJob {
    const ephemeral = this.ephemeral as Ephemeral;
    const signed = authSignedInput(
      this.nonce as Buffer,
      this.deviceId as string,
      msg.policyHash,
      msg.pileEphemeralPub,
      ephemeral.publicKey,
    );
    const ecdh =
      this.alg === 'sm2' && this.host.signatures
        ? { privateKey: ephemeral.privateKey, peer: msg.pileEphemeralPub }
        : undefined;
    return authJob(this.alg as IdentityAlg, key, signed, msg.signature, ecdh);
  }

  private checkSignature(msg: AuthResp, key: Buffer, now: number): void {
    if (this.phase !== 'verifying') return;
    const paired = this.paired;
    this.paired = undefined;
    if (paired?.key.equals(key)) return this.afterSignature(msg, paired.outcome, now);
    const { signatures } = this.host;
    const job = this.authJob(msg, key);
    const outcome = signatures ? signatures.run(job, this.remote) : runJob(job);
    if (!(outcome instanceof Promise) && signatures?.threaded === true)
      return this.later(() => this.afterSignature(msg, outcome, now));
    then(
      outcome,
      (o) => this.afterSignature(msg, o, now),
      (e) => this.fail(e),
    );
  }

  private afterSignature(msg: AuthResp, outcome: VerifyOutcome, now: number): void {
    if (this.phase !== 'verifying') return;
    if (!outcome.ok)
      throw new Refusal('bad-signature', 'bad-signature', 'AUTH_RESP signature does not verify');
    const deviceId = this.deviceId as string;
    const ephemeral = this.ephemeral as Ephemeral;
    if (this.host.replayed(createHash('sha256').update(msg.signature).digest('hex'))) {
      throw new Refusal('nonce-reused', 'nonce-reused', 'this AUTH_RESP was accepted before (replay)');
    }
    // No z from the job (not asked for, or a bad peer point): computeSecret names the error,
    // before AUTH_OK (a bad key is an AUTH_FAIL).
    const z = outcome.z ? Buffer.from(outcome.z) : ephemeral.computeSecret(msg.pileEphemeralPub);
    // AUTH_OK is plain: it goes out before the session keys are derived (a pile derives its
    // own meanwhile); no frame of the pile is read before this turn has set the channel.
    this.send({ type: 'AUTH_OK', heartbeatMs: this.host.config.heartbeatMs, gatewayTimeMs: BigInt(now) });
    if (this.version === '2.0') this.channel = SealedChannel.derive(z, deviceId, this.sessionId as Buffer);
    // Handshake material is not kept for the session's life (slices of the shared buffer pool).
    this.ephemeral = undefined;
    this.nonce = undefined;
    this.sessionId = undefined;
    this.phase = 'open';
    this.machine = this.host.authenticated(this, this.version as Cip22Version);
    if (!msg.policyHash.equals(this.host.policyHash)) this.sendPolicy();
  }

  /** Set by the gateway: the policy to push when the pile's hash differs. */
  policyMessage: (() => Cip22Message) | undefined;

  private sendPolicy(): void {
    if (this.policyMessage) this.send(this.policyMessage());
  }

  private onSessionFrame(msg: Cip22Message): void {
    const machine = this.machine as PileMachine;
    switch (msg.type) {
      case 'HEARTBEAT':
        machine.frame(this.host.now());
        this.send({ type: 'HEARTBEAT', timeMs: BigInt(this.host.now()) });
        return;
      case 'STATUS':
      case 'BATT_TELEM':
      case 'CMD_ACK':
      case 'FAULT':
        machine.frame(this.host.now());
        this.host.data(this, msg).then(
          (ack) => {
            // ACK's payload built directly: one per stored frame.
            if (ack !== null && this.phase !== 'closed') this.write(FrameType.ACK, ackPayload(ack));
          },
          () => this.refuse('storage-unavailable', 'record could not be stored'),
        );
        return;
      case 'ERROR':
        this.close(`peer-error-${msg.reason}`);
        return;
      default:
        throw new Cip22ProtocolError('unexpected-frame', `${msg.type} in an open session`);
    }
  }

  private fail(error: unknown): void {
    if (this.phase === 'closed') return;
    if (error instanceof VerifyBusy)
      return this.refuse('rate-limited', 'signature verification queue full', 'verify-busy');
    if (error instanceof Refusal) return this.refuse(error.reason, error.message, error.counted);
    if (error instanceof Cip22ProtocolError) return this.refuse(error.reasonName, error.message);
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'EDGE_ERR_CIP22_PEER_KEY_INVALID' || code === 'EDGE_ERR_CIP22_AUTH_INPUT')
      return this.refuse('bad-value', (error as Error).message);
    this.refuse('internal-error', 'internal error', 'internal-error');
  }
}
