/**
 * Runs N scripted CIP-22 piles (SimPile) in one process: periodic STATUS, charging
 * sessions, faults, dropped connections, reconnect with resend of unacknowledged frames.
 * Behind `edge-agent pile-sim` and scripts/pile-sim.ts.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { reasonName } from '../../cip22/codec/errors.js';
import { parseCertificate } from '../../cip22/identity/index.js';
import type { IdentityAlg } from '../../cip22/identity/index.js';
import { SimPile } from '../../cip22/sim/pile.js';
import type { PileSimArgs } from './args.js';

export interface PileSimSummary {
  piles: number;
  sent: number;
  acked: number;
  unacked: number;
  reconnects: number;
  refused: number;
}

/**
 * AUTH_FAIL reasons that say "not now" rather than "not you": the gateway is stopping (a
 * reload restarts it; a handshake in progress is refused like an open session), failed, or
 * cannot store. The pile reconnects as after a dropped session.
 */
const RETRY_LATER: ReadonlySet<string> = new Set(['shutting-down', 'internal-error', 'storage-unavailable']);
/**
 * "Not now, and not so many": the gateway is at its session or handshake-rate limit, or the
 * handshake took too long (a busy gateway). Retrying every second would keep a rate-limited
 * source in its window and add load where there is none to spare, so these back off.
 */
const BACK_OFF: ReadonlySet<string> = new Set(['rate-limited', 'too-many-sessions', 'handshake-timeout']);
const RECONNECT_MS = 1000;
const MAX_BACKOFF_MS = 60_000;

/** Whether an AUTH_FAIL with this reason code ends the pile's attempts (a refusal of its identity). */
export function refusalIsFinal(reason: number): boolean {
  const name = reasonName(reason);
  return !RETRY_LATER.has(name) && !BACK_OFF.has(name);
}

/**
 * How long to wait before the next attempt after `failures` refusals in a row ending with
 * `reason` (undefined: a dropped connection): 1 s, doubling up to 60 s with jitter
 * (0.5–1 of it, so a fleet refused together does not return together) for the limits.
 */
export function reconnectDelayMs(reason: number | undefined, failures: number, random: () => number): number {
  if (reason === undefined || !BACK_OFF.has(reasonName(reason))) return RECONNECT_MS;
  const ceiling = Math.min(MAX_BACKOFF_MS, RECONNECT_MS * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling * (0.5 + random() / 2));
}

interface PileFiles {
  readonly cert: string;
  readonly key: string;
  readonly issuer: string;
}

/** DER from a PEM or DER certificate file. */
export function certDer(file: string): Buffer {
  const raw = readFileSync(file);
  const text = raw.toString('latin1');
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(text);
  return m ? Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64') : raw;
}

function listPiles(args: PileSimArgs): PileFiles[] {
  if (!args.piles)
    return [{ cert: args.cert as string, key: args.key as string, issuer: args.issuer as string }];
  const dir = args.piles;
  const out: PileFiles[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.key.pem')) continue;
    const name = f.slice(0, -'.key.pem'.length);
    const cert = [`${name}.pem`, `${name}.der`].map((c) => join(dir, c)).find(existsSync);
    const issuer = [join(dir, `${name}.issuer.pem`), args.issuer, join(dir, 'issuing.pem')].find(
      (c) => c !== undefined && existsSync(c),
    );
    if (!cert || !issuer)
      throw new Error(
        `--piles: ${name} has no certificate (${name}.pem) or no issuing CA (${name}.issuer.pem, --issuer, issuing.pem)`,
      );
    out.push({ cert, key: join(dir, f), issuer });
  }
  if (out.length === 0) throw new Error(`--piles: no NAME.key.pem in ${dir}`);
  return args.count ? out.slice(0, args.count) : out;
}

/** Watt-hours delivered by the scripted sessions up to `t` seconds, and whether one is running. */
function meter(args: PileSimArgs, t: number): { energyWh: number; charging: boolean } {
  let energyWh = 0;
  let charging = false;
  for (const s of args.sessions) {
    const f = Math.min(1, Math.max(0, (t - s.startS) / (s.stopS - s.startS)));
    energyWh += Math.round(s.energyWh * f);
    if (t >= s.startS && t < s.stopS) charging = true;
  }
  return { energyWh, charging };
}

class ScriptedPile {
  readonly pile: SimPile;
  reconnects = 0;
  refused = false;
  acked = new Set<number>();
  private readonly firstSeq: number;
  private running = true;
  private connected = false;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly args: PileSimArgs,
    files: PileFiles,
    private readonly t0: number,
    private readonly err: (line: string) => void,
  ) {
    const der = certDer(files.cert);
    const parsed = parseCertificate(der);
    const alg: IdentityAlg | 'other' = args.alg ?? parsed.keyAlg;
    if (alg === 'other' || !parsed.subjectCN)
      throw new Error(`${files.cert}: not an SM2/P-256 pile certificate with a CN`);
    this.pile = new SimPile({
      host: args.host,
      port: args.port,
      ca: [readFileSync(args.ca)],
      deviceId: parsed.subjectCN,
      alg,
      key: readFileSync(files.key, 'utf8'),
      certDer: der,
      issuerDer: certDer(files.issuer),
      ...(args.stateDir ? { stateFile: join(args.stateDir, `${parsed.subjectCN}.json`) } : {}),
    });
    this.firstSeq = this.pile.nextSeq;
    this.pile.onFrame((m) => void (m.type === 'ACK' && this.acked.add(m.msgSeq)));
  }

  get sent(): number {
    return (this.pile.nextSeq - this.firstSeq) >>> 0;
  }

  start(): void {
    void this.connect();
    const at = (s: number, fn: () => void): void =>
      void this.timers.push(setTimeout(fn, Math.max(0, this.t0 + s * 1000 - performance.now())));
    this.timers.push(setInterval(() => this.status(), this.args.statusMs));
    this.timers.push(setInterval(() => this.connected && this.pile.heartbeat(), 10_000));
    for (const s of this.args.sessions) {
      at(s.startS, () => this.status());
      at(s.stopS, () => this.status());
    }
    for (const f of this.args.faults)
      at(f.atS, () => void this.pile.send({ type: 'FAULT', faultCode: f.code }));
    for (const d of this.args.drops) at(d, () => this.pile.close());
  }

  stop(): void {
    this.running = false;
    for (const t of this.timers) clearTimeout(t);
    this.pile.close();
  }

  private status(): void {
    const { energyWh, charging } = meter(this.args, (performance.now() - this.t0) / 1000);
    this.pile.send({
      type: 'STATUS',
      state: charging ? 1 : 0,
      energyWh,
      voltageMv: 48_000,
      currentMa: charging ? 5000 : 0,
    });
  }

  private async connect(): Promise<void> {
    let failures = 0;
    while (this.running) {
      let reason: number | undefined;
      try {
        await this.pile.connect();
        this.connected = true;
        failures = 0;
        await this.pile.ended;
        this.connected = false;
      } catch (error) {
        this.connected = false;
        reason = (error as { reason?: number }).reason;
        if (reason !== undefined && refusalIsFinal(reason)) {
          this.refused = true;
          this.err(`pile-sim: ${this.pile.deviceId} refused: ${(error as Error).message}`);
          return;
        }
        failures++;
        if (reason !== undefined)
          this.err(`pile-sim: ${this.pile.deviceId}: ${(error as Error).message}; reconnecting`);
      }
      if (!this.running) return;
      const delayMs = reconnectDelayMs(reason, failures, Math.random);
      await new Promise((r) => setTimeout(r, delayMs));
      if (!this.running) return;
      this.reconnects++;
    }
  }
}

/** Runs the piles until `durationS` (or `stop` resolves), waits ≤ 5 s for ACKs, returns the summary. */
export async function runPileSim(
  args: PileSimArgs,
  err: (line: string) => void,
  stop: Promise<void> = new Promise(() => undefined),
): Promise<PileSimSummary> {
  if (args.stateDir) mkdirSync(args.stateDir, { recursive: true });
  const t0 = performance.now();
  const piles = listPiles(args).map((f) => new ScriptedPile(args, f, t0, err));
  for (const p of piles) p.start();
  err(`pile-sim: ${piles.length} pile(s) → ${args.host}:${args.port}`);
  const timers: NodeJS.Timeout[] = [];
  await Promise.race([
    stop,
    ...(args.durationS !== undefined
      ? [new Promise((r) => timers.push(setTimeout(r, args.durationS! * 1000)))]
      : []),
  ]);
  const deadline = performance.now() + 5000;
  while (performance.now() < deadline && piles.some((p) => !p.refused && p.pile.unackedCount > 0))
    await new Promise((r) => setTimeout(r, 50));
  for (const t of timers) clearTimeout(t);
  for (const p of piles) p.stop();
  return {
    piles: piles.length,
    sent: piles.reduce((a, p) => a + p.sent, 0),
    acked: piles.reduce((a, p) => a + p.acked.size, 0),
    unacked: piles.reduce((a, p) => a + p.pile.unackedCount, 0),
    reconnects: piles.reduce((a, p) => a + p.reconnects, 0),
    refused: piles.filter((p) => p.refused).length,
  };
}
