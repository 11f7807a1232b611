/**
 * What a pile session (session.ts) is given: its connection's output, and the gateway
 * state shared across sessions. Apart from the session so that the gateway's side of the
 * contract reads on its own; the session's phases need none of it to be understood.
 */
import type { Cip22Version } from '../codec/index.js';
import type {
  CertificateCache,
  Ephemeral,
  IdentityAlg,
  ParsedCertificate,
  VerifyJob,
  VerifyOutcome,
} from '../identity/index.js';
import type { Cip22Config } from '../config.js';
import type { PileMachine } from '../state/machine.js';
import type { DataMessage } from './records.js';
import type { PileSession } from './session.js';

export interface SessionIo {
  write(frame: Buffer): void;
  /** Ends the connection after what was written. */
  end(): void;
}

/** What a session needs from its gateway (shared across sessions). */
export interface SessionHost {
  readonly config: Cip22Config;
  now(): number;
  readonly roots: readonly ParsedCertificate[];
  readonly policyHash: Buffer;
  /** Issuing CA → root links already verified (one per gateway): one signature check per CA, not per handshake. */
  readonly verifiedLinks: Set<string>;
  readonly certificates?: CertificateCache;
  /** Runs signature checks (off the event loop when it returns Promises); inline when absent. */
  readonly signatures?: {
    verify(job: VerifyJob, source: string): boolean | Promise<boolean>;
    run(job: VerifyJob, source: string): VerifyOutcome | Promise<VerifyOutcome>;
    /** Worker threads exist: handshakes are asynchronous anyway (0 workers: all inline). */
    readonly threaded?: boolean;
  };
  /** A session's ephemeral ECDH key (SM2: made ahead of use by a worker); createEphemeral when absent. */
  readonly ephemerals?: { take(alg: IdentityAlg): Ephemeral };
  /** True when a configured CRL lists the certificate. */
  revoked?(cert: ParsedCertificate): boolean;
  /** Counts a session end or refusal by reason. */
  count(reason: string): void;
  /** True when this AUTH_RESP signature was accepted before (a replay). Records it otherwise. */
  replayed(signatureDigest: string): boolean;
  /** Highest version this pile negotiated before, for downgrade detection. */
  versionFloor(deviceId: string): Cip22Version | undefined;
  /** The pile passed AUTH: the gateway registers the session and returns the pile's machine. */
  authenticated(session: PileSession, version: Cip22Version): PileMachine;
  /** A data frame arrived in an open session; resolves to the msg_seq to ACK (null: none). */
  data(session: PileSession, msg: DataMessage): Promise<number | null>;
  /** The session ended (after AUTH or not). */
  ended(session: PileSession, reason: string): void;
  /** The session was refused or failed with a frame sent (logged, rate-limited). */
  refused(session: PileSession, counted: string, text: string, duringHandshake: boolean): void;
}
