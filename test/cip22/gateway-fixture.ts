/** A gateway on an ephemeral loopback port with the test PKI, a MemoryOutbox and a MemoryCommandChannel. */
import { readFileSync } from 'node:fs';
import { type Clock, systemClock } from '../../src/core/clock.js';
import { MemoryCommandChannel } from '../../src/core/command-channel.js';
import { type CommandChannel, type Logger, silentLogger } from '../../src/core/ports.js';
import type { PileCommandOptions } from '../../src/cip22/gateway/commands.js';
import { type Cip22Config, cip22Schema } from '../../src/cip22/config.js';
import { Cip22Gateway } from '../../src/cip22/gateway/gateway.js';
import { loadRoots } from '../../src/cip22/identity/index.js';
import { type PileOptions, SimPile } from '../../src/cip22/sim/pile.js';
import type { Outbox } from '../../src/store/outbox.js';
import { MemoryOutbox } from '../store/memory-outbox.js';
import { cip22Pki } from '../helpers/cip22-pki.js';

export interface Fixture {
  readonly gateway: Cip22Gateway;
  readonly outbox: Outbox;
  readonly channel: MemoryCommandChannel;
  readonly port: number;
  pile(kind: 'sm2' | 'p256', overrides?: Partial<PileOptions>): SimPile;
  stop(): Promise<void>;
}

/** A clock whose now() can be pushed forward (stale nonce) while timers stay real. */
export class SkewClock implements Clock {
  skew = 0;
  now(): number {
    return Date.now() + this.skew;
  }
  monotonic(): number {
    return performance.now() + this.skew;
  }
  setTimeout(fn: () => void, ms: number) {
    return systemClock.setTimeout(fn, ms);
  }
}

export async function startGateway(
  overrides: Record<string, unknown> = {},
  options: {
    clock?: Clock;
    outbox?: Outbox;
    logger?: Logger;
    /** Commands from a real broker (default: a MemoryCommandChannel, `channel`). */
    commands?: CommandChannel;
    commandOptions?: PileCommandOptions;
    crlPollMs?: number;
  } = {},
): Promise<Fixture> {
  const pki = cip22Pki();
  const parsed = cip22Schema.parse({
    enabled: true,
    host: '127.0.0.1',
    tls: { cert: pki.p256.server.certPem, key: { file: pki.p256.server.keyPem } },
    roots: [pki.sm2.root.certPem, pki.p256.root.certPem],
    allowCommands: ['start', 'stop', 'reset', 'begin-upgrade'],
    perIpHandshakesPerMinute: 100_000,
    ...overrides,
  });
  const config: Cip22Config = { ...parsed, port: 0 };
  const outbox = options.outbox ?? new MemoryOutbox({ batchMaxLatencyMs: 5 });
  const channel = new MemoryCommandChannel('edge/site');
  const roots = loadRoots(config.roots.map((p) => readFileSync(p)));
  const serverCert = Buffer.concat([
    readFileSync(pki.p256.server.certPem),
    readFileSync(pki.p256.issuing.certPem),
  ]);
  const gateway = new Cip22Gateway(config, {
    clock: options.clock ?? systemClock,
    logger: options.logger ?? silentLogger,
    outbox,
    roots,
    tls: { cert: serverCert, key: readFileSync(pki.p256.server.keyPem) },
    commands: options.commands ?? channel,
    ...(options.commandOptions ? { commandOptions: options.commandOptions } : {}),
  });
  if (options.crlPollMs !== undefined) gateway.crlPollMs = options.crlPollMs;
  const port = await gateway.start();
  const ca = [readFileSync(pki.p256.root.certPem)];
  return {
    gateway,
    outbox,
    channel,
    port,
    pile(kind, o = {}) {
      const m = kind === 'sm2' ? pki.sm2 : pki.p256;
      return new SimPile({
        host: '127.0.0.1',
        port,
        ca,
        deviceId: m.deviceId,
        alg: kind === 'sm2' ? 'sm2' : 'ecdsa-p256',
        key: m.pile.key,
        certDer: m.pile.der,
        issuerDer: m.issuing.der,
        ...o,
      });
    },
    async stop() {
      await gateway.stop();
      if (!options.outbox) await outbox.close();
    },
  };
}
