/**
 * The fault stage: each response frame read from the serial bus goes to the agent
 * through here, dropped, delayed, held and glued, split, salted with garbage or with a
 * heartbeat mid-frame as the faults in effect say (faults.ts). It owns no socket and no
 * timer of its own: the simulator lends them through FaultHost.
 */
import type { Socket } from 'node:net';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { hits, type DtuFaults } from './faults.js';
import { randomBytes, randomInt, type Random } from './prng.js';
import type { DtuSimulatorStats } from './types.js';

/** The simulator's connection to the agent. */
export interface Conn {
  sock: Socket;
  remote: string;
  heartbeatTimer?: TimerHandle;
  held?: Buffer;
  holdTimer?: TimerHandle;
  redialNow?: boolean;
  closed: boolean;
}

/** What the fault stage uses of the simulator. */
export interface FaultHost {
  readonly random: Random;
  readonly heartbeat: Buffer;
  readonly clock: Clock;
  readonly counters: DtuSimulatorStats;
  /** The faults in effect now (they may change while a response waits). */
  current(): DtuFaults;
  closing(): boolean;
  write(conn: Conn, bytes: Buffer): void;
  /** A pause that close() ends early. */
  sleep(ms: number): Promise<void>;
  log(level: 'info', message: string): void;
}

/** Two setImmediate hops: the first lands in this loop turn's check phase, the second in the next
 *  one's, so an I/O poll (where a reader in this process picks up the previous chunk) runs between. */
async function nextLoopTurn(): Promise<void> {
  await new Promise<void>((r) => setImmediate(r));
  await new Promise<void>((r) => setImmediate(r));
}

export class FaultStage {
  constructor(private readonly host: FaultHost) {}

  async forward(conn: Conn, frame: Buffer, index: number): Promise<void> {
    const f = this.host.current();
    const faults = this.host.counters.faults;
    if (conn.closed || this.host.closing()) {
      this.host.counters.framesDiscarded++;
      return;
    }
    if (f.silent) {
      faults.silent++;
      this.host.counters.framesDiscarded++;
      return;
    }
    if (f.dropEvery && f.dropEvery >= 1 && index % Math.floor(f.dropEvery) === 0) {
      faults.drop++;
      this.host.counters.framesDiscarded++;
      this.host.log('info', `fault drop: closing the link at response #${index}`);
      conn.sock.destroy();
      return;
    }
    let payload = frame;
    if (
      this.host.heartbeat.length > 0 &&
      frame.length >= 2 &&
      hits(f.heartbeatMidFrame, index, this.host.random)
    ) {
      const at = randomInt(this.host.random, 1, frame.length - 1);
      payload = Buffer.concat([frame.subarray(0, at), this.host.heartbeat, frame.subarray(at)]);
      faults.heartbeatMidFrame++;
      this.host.counters.heartbeatsSent++;
    }
    if (hits(f.garbage, index, this.host.random)) {
      const min = Math.max(1, f.garbageMinBytes ?? 1);
      const max = Math.max(min, f.garbageMaxBytes ?? 8);
      payload = Buffer.concat([
        randomBytes(this.host.random, randomInt(this.host.random, min, max)),
        payload,
      ]);
      faults.garbage++;
    }
    const delayHit =
      f.delayRate !== undefined
        ? hits(f.delayRate, index, this.host.random)
        : index % Math.max(1, Math.floor(f.delayEvery ?? 1)) === 0;
    if (f.delayMs && f.delayMs > 0 && delayHit) {
      faults.delay++;
      await this.host.sleep(
        randomInt(this.host.random, f.delayMs, Math.max(f.delayMs, f.delayMaxMs ?? f.delayMs)),
      );
      if (conn.closed || this.host.closing()) {
        this.host.counters.framesDiscarded++;
        return;
      }
    }
    const glue = hits(f.glue, index, this.host.random);
    const split = hits(f.split, index, this.host.random);
    if (glue) {
      faults.glue++;
      if (conn.held) {
        // a second held response: both stay held, glued together
        payload = Buffer.concat([conn.held, payload]);
        this.host.counters.framesForwarded++;
      }
      conn.held = payload;
      conn.holdTimer?.cancel();
      conn.holdTimer = this.host.clock.setTimeout(() => {
        conn.holdTimer = undefined;
        if (!conn.held || this.host.current().silent) return;
        const held = conn.held;
        conn.held = undefined;
        this.send(conn, held, f, index);
        this.host.counters.framesForwarded++;
      }, f.glueMaxHoldMs ?? 10_000);
      return;
    }
    if (conn.held) {
      payload = Buffer.concat([conn.held, payload]);
      conn.held = undefined;
      conn.holdTimer?.cancel();
      conn.holdTimer = undefined;
      this.host.counters.framesForwarded++;
    }
    if (split && payload.length >= 2) {
      faults.split++;
      const chunks = this.cut(payload, Math.min(payload.length, Math.max(2, f.splitMaxChunks ?? 4)));
      for (let i = 0; i < chunks.length; i++) {
        if (i > 0) {
          if (f.splitGapMs && f.splitGapMs > 0) await this.host.sleep(f.splitGapMs);
          else await nextLoopTurn();
        }
        this.send(conn, chunks[i]!, f, index);
      }
    } else {
      this.send(conn, payload, f, index);
    }
    this.host.counters.framesForwarded++;
  }

  /** One write (one datagram in UDP mode), lost or duplicated as the faults say. */
  private send(conn: Conn, bytes: Buffer, f: DtuFaults, index: number): void {
    const faults = this.host.counters.faults;
    if (hits(f.lose, index, this.host.random)) {
      faults.lose++;
      this.host.log('info', `fault lose: a write of response #${index} not sent`);
      return;
    }
    this.host.write(conn, bytes);
    if (!hits(f.duplicate, index, this.host.random)) return;
    faults.duplicate++;
    const delayMs = f.duplicateDelayMs ?? 0;
    if (delayMs <= 0) this.host.write(conn, bytes);
    else void this.host.sleep(delayMs).then(() => this.host.write(conn, bytes));
  }

  /** Cuts bytes into 2..maxChunks non-empty pieces at random points. */
  private cut(bytes: Buffer, maxChunks: number): Buffer[] {
    const n = randomInt(this.host.random, 2, maxChunks);
    const points = new Set<number>();
    while (points.size < n - 1) points.add(randomInt(this.host.random, 1, bytes.length - 1));
    const sorted = [...points].sort((a, b) => a - b);
    const out: Buffer[] = [];
    let prev = 0;
    for (const p of sorted) {
      out.push(bytes.subarray(prev, p));
      prev = p;
    }
    out.push(bytes.subarray(prev));
    return out;
  }
}
