/**
 * The gateway's checks of a pile's HELLO, before it spends a nonce and an ephemeral key
 * on it: whether the device id is usable and allowed, which identity algorithm the pile
 * signs with, and which protocol version both sides speak (never below one the pile
 * negotiated before). Each check throws the Refusal naming its reason; none keeps state.
 */
import { negotiateVersion, type Cip22Message, type Cip22Version } from '../codec/index.js';
import type { IdentityAlg } from '../identity/index.js';
import { topicSegment } from '../../config-kit/common.js';
import { Refusal } from './refusal.js';
import type { SessionHost } from './session-host.js';

type HelloFrame = Extract<Cip22Message, { type: 'HELLO' }>;

/** The pile's identity algorithm: from HELLO, else its registration. */
export function helloAlg(msg: HelloFrame, host: SessionHost): IdentityAlg {
  const { config } = host;
  const id = msg.deviceId;
  if (!topicSegment.safeParse(id).success)
    throw new Refusal('unknown-device', 'unknown-device', 'device_id is not usable as a topic level');
  const registered = config.piles[id];
  if (config.onlyRegistered && !registered)
    throw new Refusal('unknown-device', 'unknown-device', `pile ${id} is not registered`);
  const alg: IdentityAlg | undefined =
    msg.identityAlg === 1 ? 'sm2' : msg.identityAlg === 2 ? 'ecdsa-p256' : registered?.identity;
  if (alg === undefined)
    throw new Refusal(
      'unknown-device',
      'unknown-device',
      `pile ${id}: identity algorithm neither in HELLO nor registered`,
    );
  if (registered && registered.identity !== alg)
    throw new Refusal(
      'wrong-key-algorithm',
      'wrong-key-algorithm',
      `pile ${id} is registered as ${registered.identity}`,
    );
  return alg;
}

/** The highest version both sides speak, refused below the pile's earlier one (a downgrade). */
export function helloVersion(msg: HelloFrame, host: SessionHost): Cip22Version {
  const { config } = host;
  const version = negotiateVersion(msg.versions, config.versions);
  if (version === undefined)
    throw new Refusal(
      'no-common-version',
      'no-common-version',
      `no common version (gateway: ${config.versions.join(', ')})`,
    );
  const floor = host.versionFloor(msg.deviceId);
  if (floor !== undefined && floor > version)
    throw new Refusal('no-common-version', 'downgrade', `downgrade from ${floor} to ${version} refused`);
  return version;
}
