/**
 * The sealed half of a v2.0 session (spec §6): the keys derived at AUTH, prepared once per
 * direction (GHASH table) rather than per frame, and each direction's frame counter.
 */
import { type SessionKeys, deriveSessionKeys, openFrame, sealFrame } from '../codec/index.js';
import { Sm4GcmKey } from '../../crypto/sm4-gcm.js';

export class SealedChannel {
  private readonly ivUp: Buffer;
  private readonly ivDown: Buffer;
  private readonly upKey: Sm4GcmKey;
  private readonly downKey: Sm4GcmKey;
  private upSeq = 0;
  private downSeq = 0;

  constructor(keys: SessionKeys) {
    this.ivUp = keys.ivUp;
    this.ivDown = keys.ivDown;
    this.upKey = new Sm4GcmKey(keys.kUp);
    this.downKey = new Sm4GcmKey(keys.kDown);
  }

  static derive(z: Buffer, deviceId: string, sessionId: Buffer): SealedChannel {
    return new SealedChannel(deriveSessionKeys(z, deviceId, sessionId));
  }

  /** The next expected pile → gateway seq (tests keep their sealed frames in step with it). */
  get nextUpSeq(): number {
    return this.upSeq;
  }

  /** The plaintext of the next frame from the pile; throws Cip22ProtocolError 'bad-tag'. */
  open(header: Buffer, payload: Buffer): Buffer {
    return openFrame(this.upKey, this.ivUp, this.upSeq++, header, payload);
  }

  /** The next whole sealed frame to the pile. */
  seal(type: number, payload: Buffer): Buffer {
    return sealFrame(this.downKey, this.ivDown, this.downSeq++, type, payload);
  }
}
