/**
 * Reference CIP-22 pile (client): TLS 1.3 to the gateway, HELLO/AUTH with an SM2 or
 * ECDSA identity, sealed v2.0 frames, persistent msg_seq and resend of everything not
 * acknowledged after a reconnect, automatic CMD_ACK. It is what the tests and the
 * benchmark drive; `edge-agent pile-sim` runs N of them.
 */
import { type KeyObject, createPrivateKey } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { type TLSSocket, connect } from 'node:tls';
import {
  type Cip22Message,
  type Cip22Version,
  FrameDecoder,
  type SessionKeys,
  type VersionPair,
  decodeMessage,
  deriveSessionKeys,
  encodeFrame,
  encodeMessage,
  openFrame,
  sealFrame,
  versionOf,
} from '../codec/index.js';
import { Sm4GcmKey } from '../../crypto/sm4-gcm.js';
import { type IdentityAlg, authSignedInput, createEphemeral, signAuth } from '../identity/index.js';

export interface PileOptions {
  readonly host: string;
  readonly port: number;
  /** PEM(s) of the station CA the gateway certificate must chain to. */
  readonly ca: string | Buffer | (string | Buffer)[];
  readonly deviceId: string;
  readonly alg: IdentityAlg;
  /** Private key (PEM PKCS#8, or loaded), certificate DER, issuing CA certificate DER. */
  readonly key: string | KeyObject;
  readonly certDer: Buffer;
  readonly issuerDer: Buffer;
  /** Offered versions, highest first; default 2.0 and 1.2. */
  readonly versions?: readonly VersionPair[];
  /** JSON file holding next msg_seq, unacknowledged frames and the policy hash. */
  readonly stateFile?: string;
  /** CMD_ACK result for a command (default 0 = done). */
  readonly commandResult?: (command: number, commandId: number) => number;
  /** Awaited between CHALLENGE and AUTH_RESP (tests: a stale nonce). */
  readonly beforeAuthResp?: () => Promise<void>;
  /** TLS options override (tests: maxVersion TLSv1.2). */
  readonly tls?: Record<string, unknown>;
}

/** Data frames carry msg_seq; the pile keeps them until ACKed. */
export type DataFields =
  | {
      type: 'STATUS';
      state: 0 | 1 | 2 | 3;
      voltageMv?: number;
      currentMa?: number;
      energyWh?: number;
      temperature01C?: number;
      faultCode?: number;
    }
  | { type: 'BATT_TELEM'; batteryId: string; socPct?: number; sohPct?: number; cycles?: number }
  | { type: 'FAULT'; faultCode: number; detail?: string }
  | { type: 'CMD_ACK'; commandId: number; result: number };

interface PersistedState {
  nextSeq: number;
  unacked: [number, DataFields][];
  policyHash: string;
}

export type SessionEnd =
  | { readonly kind: 'auth-fail' | 'error'; readonly reason: number; readonly text: string }
  | { readonly kind: 'closed' };

export class SimPile {
  readonly deviceId: string;
  version: Cip22Version | undefined;
  /** Frames received after AUTH (decoded), for tests. */
  readonly received: Cip22Message[] = [];
  /** The AUTH_RESP frame bytes last sent (replay tests). */
  lastAuthResp: Buffer | undefined;
  private socket: TLSSocket | undefined;
  private keys: SessionKeys | undefined;
  private upKey: Sm4GcmKey | undefined;
  private downKey: Sm4GcmKey | undefined;
  private upSeq = 0;
  private downSeq = 0;
  /** Between AUTH_OK and the end of the connection. */
  private open = false;
  private state: PersistedState;
  private readonly unacked = new Map<number, DataFields>();
  private readonly listeners = new Set<(msg: Cip22Message) => void>();
  /** Parsed once: a real pile holds its key loaded, it does not re-read a PEM per handshake. */
  private privateKey: KeyObject | undefined;
  private endResolve: ((end: SessionEnd) => void) | undefined;
  /** Resolves when the current session ends (AUTH_FAIL, ERROR or close). */
  ended: Promise<SessionEnd> = Promise.resolve({ kind: 'closed' });

  constructor(private readonly options: PileOptions) {
    this.deviceId = options.deviceId;
    this.state = this.load();
    for (const [seq, fields] of this.state.unacked) this.unacked.set(seq, fields);
  }

  get unackedCount(): number {
    return this.unacked.size;
  }

  get nextSeq(): number {
    return this.state.nextSeq;
  }

  /** Connects and authenticates; resolves after AUTH_OK (resending what was never ACKed), rejects on refusal. */
  async connect(): Promise<void> {
    const o = this.options;
    const socket = connect({
      host: o.host,
      port: o.port,
      ca: o.ca,
      minVersion: 'TLSv1.3',
      checkServerIdentity: () => undefined,
      ...o.tls,
    });
    this.socket = socket;
    this.open = false;
    this.keys = undefined;
    this.upSeq = 0;
    this.downSeq = 0;
    this.ended = new Promise((resolve) => (this.endResolve = resolve));
    const decoder = new FrameDecoder({ maxPayload: 65535 });
    const authed = new Promise<void>((resolve, reject) => {
      let phase: 'challenge' | 'ok' | 'open' = 'challenge';
      socket.on('error', (e: Error) => reject(e));
      socket.on('close', () => {
        if (this.socket === socket) this.open = false;
        this.finish({ kind: 'closed' });
        reject(new Error('closed before AUTH_OK'));
      });
      socket.on('data', (chunk: Buffer) => {
        for (const item of decoder.push(chunk)) {
          if (item.kind !== 'frame') continue;
          let payload = item.payload;
          if (phase === 'open' && this.keys && this.downKey)
            payload = openFrame(this.downKey, this.keys.ivDown, this.downSeq++, item.header, payload);
          const msg = decodeMessage(item.type, payload, this.version ?? '1.2');
          if (msg.type === 'AUTH_FAIL' || msg.type === 'ERROR') {
            this.finish({
              kind: msg.type === 'AUTH_FAIL' ? 'auth-fail' : 'error',
              reason: msg.reason,
              text: msg.text,
            });
            reject(
              Object.assign(new Error(`${msg.type} ${msg.reason}: ${msg.text}`), { reason: msg.reason }),
            );
            continue;
          }
          if (phase === 'challenge' && msg.type === 'CHALLENGE') {
            this.version = versionOf(msg.selectedVersion);
            const eph = createEphemeral(o.alg);
            const held = Buffer.from(this.state.policyHash || '00'.repeat(32), 'hex');
            const signed = authSignedInput(
              msg.nonce,
              o.deviceId,
              held,
              eph.publicKey,
              msg.gatewayEphemeralPub,
            );
            const resp = encodeMessage({
              type: 'AUTH_RESP',
              signature: signAuth(
                o.alg,
                (this.privateKey ??= typeof o.key === 'string' ? createPrivateKey(o.key) : o.key),
                signed,
              ),
              pileCert: o.certDer,
              issuerCert: o.issuerDer,
              pileEphemeralPub: eph.publicKey,
              policyHash: held,
            });
            const frame = (this.lastAuthResp = encodeFrame(resp.type, resp.payload));
            phase = 'ok';
            // AUTH_RESP first, then the session keys (the ECDH is ~1 ms on the SM2 curve): a
            // pile derives them while the gateway verifies, and needs them only for the frames
            // after AUTH_OK, which arrive in a later turn.
            const derive = (): void => {
              if (this.version !== '2.0') return;
              this.keys = deriveSessionKeys(
                eph.computeSecret(msg.gatewayEphemeralPub),
                o.deviceId,
                msg.sessionId,
              );
              this.upKey = new Sm4GcmKey(this.keys.kUp);
              this.downKey = new Sm4GcmKey(this.keys.kDown);
            };
            if (!o.beforeAuthResp) {
              socket.write(frame);
              derive();
            } else
              o.beforeAuthResp()
                .then(() => {
                  socket.write(frame);
                  derive();
                })
                .catch(reject);
          } else if (phase === 'ok' && msg.type === 'AUTH_OK') {
            phase = 'open';
            this.open = true;
            resolve();
            this.resend();
          } else if (phase === 'open') this.onMessage(msg);
        }
      });
    });
    socket.write(this.helloFrame());
    await authed;
  }

  /** Sends a data frame with the next msg_seq; it stays unacknowledged until its ACK. */
  send(fields: DataFields): number {
    const seq = this.state.nextSeq;
    this.state.nextSeq = (seq + 1) >>> 0;
    this.unacked.set(seq, fields);
    this.save();
    this.write(this.message(seq, fields));
    return seq;
  }

  heartbeat(): void {
    this.write({ type: 'HEARTBEAT', timeMs: BigInt(Date.now()) });
  }

  /** Writes raw bytes (tests). */
  writeRaw(bytes: Buffer): void {
    this.socket?.write(bytes);
  }

  /** Seals a message with the next up seq without sending it (tests: replay, reorder). */
  sealNext(msg: Cip22Message): Buffer {
    const { type, payload } = encodeMessage(msg);
    return this.keys && this.upKey
      ? sealFrame(this.upKey, this.keys.ivUp, this.upSeq++, type, payload)
      : encodeFrame(type, payload);
  }

  onFrame(listener: (msg: Cip22Message) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Closes the connection (unacknowledged frames stay for the next connect). */
  close(): void {
    this.socket?.destroy();
  }

  private helloFrame(): Buffer {
    const versions = this.options.versions ?? [
      [2, 0],
      [1, 2],
    ];
    const { type, payload } = encodeMessage({
      type: 'HELLO',
      deviceId: this.options.deviceId,
      versions,
      identityAlg: this.options.alg === 'sm2' ? 1 : 2,
    });
    return encodeFrame(type, payload);
  }

  private message(seq: number, f: DataFields): Cip22Message {
    return { ...f, msgSeq: seq };
  }

  private write(msg: Cip22Message): void {
    // Before AUTH_OK a data frame would break the handshake: it stays unacknowledged and
    // goes out with the resend after AUTH_OK.
    if (!this.socket || this.socket.destroyed || !this.open) return;
    this.socket.write(this.sealNext(msg));
  }

  private resend(): void {
    for (const [seq, fields] of [...this.unacked].sort((a, b) => a[0] - b[0]))
      this.write(this.message(seq, fields));
  }

  private onMessage(msg: Cip22Message): void {
    this.received.push(msg);
    if (this.received.length > 1000) this.received.splice(0, 500);
    if (msg.type === 'ACK') {
      if (this.unacked.delete(msg.msgSeq)) this.save();
    } else if (msg.type === 'SET_POLICY') {
      this.state.policyHash = msg.policyHash.toString('hex');
      this.save();
    } else if (msg.type === 'CMD') {
      const result = this.options.commandResult?.(msg.command, msg.commandId) ?? 0;
      this.send({ type: 'CMD_ACK', commandId: msg.commandId, result });
    }
    for (const l of this.listeners) l(msg);
  }

  private finish(end: SessionEnd): void {
    this.endResolve?.(end);
    this.endResolve = undefined;
  }

  private load(): PersistedState {
    if (this.options.stateFile) {
      try {
        return JSON.parse(readFileSync(this.options.stateFile, 'utf8')) as PersistedState;
      } catch {
        /* first run */
      }
    }
    return { nextSeq: 0, unacked: [], policyHash: '' };
  }

  private save(): void {
    const file = this.options.stateFile;
    if (!file) return;
    this.state.unacked = [...this.unacked];
    writeFileSync(`${file}.tmp`, JSON.stringify(this.state));
    renameSync(`${file}.tmp`, file);
  }
}
