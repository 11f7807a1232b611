/**
 * Typed CIP-22 frames (spec §4) and their TLV layouts. Each frame type's fields are listed
 * once in MESSAGE_SPECS, in the spec's order, which is also the encoding order.
 */
import type { FieldKind, FieldSpec, VersionPair } from './fields.js';
import { FrameType, type FrameTypeName } from './frame.js';
import type { TariffWindow } from './policy.js';
import type { Tlv } from './tlv.js';

export type { VersionPair } from './fields.js';

/** Pile state in STATUS 0x50. */
export const PileState = { IDLE: 0, CHARGING: 1, FAULT: 2, UPGRADING: 3 } as const;
export type PileStateValue = (typeof PileState)[keyof typeof PileState];

/** Command in CMD 0x80. */
export const Command = { START: 1, STOP: 2, RESET_FAULT: 3, BEGIN_UPGRADE: 4 } as const;
export type CommandValue = (typeof Command)[keyof typeof Command];

/** Identity algorithm in HELLO 0x05. */
export const IdentityAlg = { SM2: 1, ECDSA_P256: 2 } as const;
export type IdentityAlgValue = (typeof IdentityAlg)[keyof typeof IdentityAlg];

export interface HelloMessage {
  readonly type: 'HELLO';
  readonly deviceId: string;
  readonly versions: readonly VersionPair[];
  readonly firmware?: string;
  readonly model?: string;
  readonly identityAlg?: IdentityAlgValue;
}
export interface ChallengeMessage {
  readonly type: 'CHALLENGE';
  readonly nonce: Buffer;
  readonly validityMs: number;
  readonly policyHash: Buffer;
  readonly selectedVersion: VersionPair;
  readonly gatewayEphemeralPub: Buffer;
  readonly sessionId: Buffer;
}
export interface AuthRespMessage {
  readonly type: 'AUTH_RESP';
  readonly signature: Buffer;
  readonly pileCert: Buffer;
  readonly issuerCert: Buffer;
  readonly pileEphemeralPub: Buffer;
  readonly policyHash: Buffer;
}
export interface AuthOkMessage {
  readonly type: 'AUTH_OK';
  readonly heartbeatMs: number;
  readonly gatewayTimeMs: bigint;
}
export interface AuthFailMessage {
  readonly type: 'AUTH_FAIL';
  readonly reason: number;
  readonly text: string;
}
export interface ErrorMessage {
  readonly type: 'ERROR';
  readonly reason: number;
  readonly text: string;
}
export interface HeartbeatMessage {
  readonly type: 'HEARTBEAT';
  readonly timeMs: bigint;
}
export interface StatusMessage {
  readonly type: 'STATUS';
  readonly msgSeq: number;
  readonly state: PileStateValue;
  readonly voltageMv?: number;
  readonly currentMa?: number;
  readonly energyWh?: number;
  readonly temperature01C?: number;
  readonly faultCode?: number;
}
export interface BattTelemMessage {
  readonly type: 'BATT_TELEM';
  readonly msgSeq: number;
  readonly batteryId: string;
  readonly socPct?: number;
  readonly sohPct?: number;
  readonly cycles?: number;
  readonly bmsDigest?: Buffer;
}
export interface SetPolicyMessage {
  readonly type: 'SET_POLICY';
  readonly policy: readonly TariffWindow[];
  readonly policyHash: Buffer;
}
export interface CmdMessage {
  readonly type: 'CMD';
  readonly commandId: number;
  readonly command: CommandValue;
  readonly params?: readonly Tlv[];
}
export interface CmdAckMessage {
  readonly type: 'CMD_ACK';
  readonly msgSeq: number;
  readonly commandId: number;
  readonly result: number;
}
export interface FaultMessage {
  readonly type: 'FAULT';
  readonly msgSeq: number;
  readonly faultCode: number;
  readonly detail?: string;
}
export interface AckMessage {
  readonly type: 'ACK';
  readonly msgSeq: number;
}

export type Cip22Message =
  | HelloMessage
  | ChallengeMessage
  | AuthRespMessage
  | AuthOkMessage
  | AuthFailMessage
  | HeartbeatMessage
  | StatusMessage
  | BattTelemMessage
  | SetPolicyMessage
  | CmdMessage
  | CmdAckMessage
  | FaultMessage
  | AckMessage
  | ErrorMessage;

export type Cip22MessageType = Cip22Message['type'];

const u8 = (min?: number, max?: number): FieldKind => ({ kind: 'uint', bytes: 1, min, max });
const u16: FieldKind = { kind: 'uint', bytes: 2 };
const u32 = (min?: number): FieldKind => ({ kind: 'uint', bytes: 4, min });
const u64: FieldKind = { kind: 'u64' };
const fixed = (length: number, first?: number): FieldKind => ({ kind: 'bytes', length, first });
const text = (min?: number, max?: number): FieldKind => ({ kind: 'text', min, max });
/** Uncompressed EC point (SM2 curve or P-256): 04 || x || y. */
const point = fixed(65, 0x04);

function req(key: string, tag: number, type: FieldKind): FieldSpec {
  return { key, tag, type, required: true };
}
function opt(key: string, tag: number, type: FieldKind): FieldSpec {
  return { key, tag, type, required: false };
}

const MSG_SEQ = req('msgSeq', 0xa1, u32());
const REASON_FIELDS = [req('reason', 0x3f, u16), opt('text', 0x3e, text())];

/**
 * Field layouts. Where the spec gives no size or range, the project's decision is noted in
 * docs/cip22.md ("Where the spec is silent").
 */
export const MESSAGE_SPECS: Readonly<Record<Cip22MessageType, readonly FieldSpec[]>> = {
  HELLO: [
    req('deviceId', 0x01, { kind: 'text', min: 1, max: 64, identifier: true }),
    req('versions', 0x02, { kind: 'versions' }),
    opt('firmware', 0x03, text(0, 255)),
    opt('model', 0x04, text(0, 255)),
    opt('identityAlg', 0x05, u8(1, 2)),
  ],
  CHALLENGE: [
    req('nonce', 0x10, fixed(16)),
    req('validityMs', 0x11, u32(1)),
    req('policyHash', 0x12, fixed(32)),
    req('selectedVersion', 0x13, { kind: 'version' }),
    req('gatewayEphemeralPub', 0x14, point),
    req('sessionId', 0x15, fixed(16)),
  ],
  AUTH_RESP: [
    req('signature', 0x20, { kind: 'bytes', min: 1, max: 255 }),
    req('pileCert', 0x21, { kind: 'bytes', min: 1 }),
    req('issuerCert', 0x23, { kind: 'bytes', min: 1 }),
    req('pileEphemeralPub', 0x22, point),
    req('policyHash', 0x12, fixed(32)),
  ],
  AUTH_OK: [req('heartbeatMs', 0x31, u32(1)), req('gatewayTimeMs', 0x32, u64)],
  AUTH_FAIL: REASON_FIELDS,
  HEARTBEAT: [req('timeMs', 0x40, u64)],
  STATUS: [
    MSG_SEQ,
    req('state', 0x50, u8(0, 3)),
    opt('voltageMv', 0x51, u32()),
    opt('currentMa', 0x52, { kind: 'int', bytes: 4 }),
    opt('energyWh', 0x53, u32()),
    opt('temperature01C', 0x54, { kind: 'int', bytes: 2 }),
    opt('faultCode', 0x55, u16),
  ],
  BATT_TELEM: [
    MSG_SEQ,
    req('batteryId', 0x60, text(1, 64)),
    opt('socPct', 0x61, u8(0, 100)),
    opt('sohPct', 0x62, u8(0, 100)),
    opt('cycles', 0x63, u32()),
    opt('bmsDigest', 0x64, fixed(32)),
  ],
  SET_POLICY: [req('policy', 0x70, { kind: 'policy' }), req('policyHash', 0x12, fixed(32))],
  CMD: [req('commandId', 0x81, u32()), req('command', 0x80, u8(1, 4)), opt('params', 0x82, { kind: 'tlvs' })],
  CMD_ACK: [MSG_SEQ, req('commandId', 0x81, u32()), req('result', 0x83, u16)],
  FAULT: [MSG_SEQ, req('faultCode', 0x55, u16), opt('detail', 0x90, text())],
  ACK: [MSG_SEQ],
  ERROR: REASON_FIELDS,
};

/** Fields a decoder fills in when the TLV is absent. */
export const MESSAGE_DEFAULTS: Partial<Record<Cip22MessageType, Readonly<Record<string, unknown>>>> = {
  AUTH_FAIL: { text: '' },
  ERROR: { text: '' },
};

export function frameTypeOf(type: Cip22MessageType): number {
  return FrameType[type satisfies FrameTypeName];
}
