/**
 * A forged-SM2-chain flood against a gateway (forger.ts in a child process, at low
 * priority so the attackers' own CPU does not land on the gateway), shared by the
 * handshake-CPU test (which counts where verifications ran) and the cip22 bench (which
 * times the event loop meanwhile). `run` gets the gateway while the flood is on, from the
 * first refusal until `forged` chains were refused.
 */
import { fork } from 'node:child_process';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import type { Cip22Gateway } from '../../src/cip22/gateway/gateway.js';
import { cip22Pki } from '../helpers/cip22-pki.js';
import { waitFor } from '../helpers/wait.js';
import { startGateway } from './gateway-fixture.js';

export const FLOOD_CLIENTS = 20;

/** Chains refused so far: a wrong signature, or the verify queue full. */
export function forgedRefusals(gateway: Cip22Gateway): number {
  return gateway.counter('wrong-issuer') + gateway.counter('verify-busy');
}

export async function forgedFlood<T>(
  workers: number,
  forged: number,
  during: (gateway: Cip22Gateway) => { stop(): T },
): Promise<{ result: T; gateway: Cip22Gateway; forged: number }> {
  const pki = cip22Pki();
  const fx = await startGateway({ verify: { workers }, maxPreAuth: 1000, maxPreAuthPerSource: 100 });
  const child = fork(
    join(import.meta.dirname, 'forger.js'),
    [
      String(fx.port),
      String(FLOOD_CLIENTS),
      pki.sm2.pile.certPem.replace(/\.pem$/, '.der'),
      pki.sm2.issuing.dir + '/cert.der',
      pki.sm2.deviceId,
    ],
    { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
  );
  try {
    if (child.pid !== undefined) setPriority(child.pid, 19);
    await waitFor('flood started', () => forgedRefusals(fx.gateway) > 0, 60_000);
    const probe = during(fx.gateway);
    await waitFor(`${forged} forged chains refused`, () => forgedRefusals(fx.gateway) >= forged, 180_000, 50);
    return { result: probe.stop(), gateway: fx.gateway, forged: forgedRefusals(fx.gateway) };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill();
    await exited;
    await fx.stop();
  }
}
