/**
 * Gateway session fuzz: ≥ 1,000,000 random and mutated inputs (seeded) pushed into
 * in-process sessions through `Cip22Gateway.attach()`. Valid HELLO, AUTH_RESP and sealed
 * frames are mutated (bit flips, truncation, length/type edits with or without a fixed
 * CRC, glued and split chunks, garbage around frames) or replaced by random bytes.
 * Asserts: nothing throws out of push, each session's buffer stays bounded, every closed
 * session has a counted reason (our tally equals the gateway's counters), no internal
 * error, heap growth after GC bounded, closed sessions are collected.
 * Env: CIP22_FUZZ_INPUTS (default 1,000,000), CIP22_FUZZ_SEED.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { crc8 } from '../../src/cip22/codec/crc8.js';
import { FrameType, encodeFrame, encodeMessage, type Cip22Message } from '../../src/cip22/codec/index.js';
import type { PileSession } from '../../src/cip22/gateway/session.js';
import { cip22Pki } from '../helpers/cip22-pki.js';
import {
  CountingSink,
  InprocPile,
  StillClock,
  bufferedBytes,
  helloFrame,
  inprocGateway,
  upSeq,
} from './inproc-pile.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const TOTAL = Number(process.env.CIP22_FUZZ_INPUTS ?? 1_000_000);
const SEED = Number(process.env.CIP22_FUZZ_SEED ?? 0x22c1_0220);
const MAX_PAYLOAD = 4096;

/** mulberry32: 32 random bits per call. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

class Mutator {
  constructor(private readonly u32: () => number) {}
  int(n: number): number {
    return Math.floor((this.u32() / 4294967296) * n);
  }
  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) {
      const w = this.u32();
      for (let k = 0; k < 4 && i + k < n; k++) b[i + k] = (w >>> (8 * k)) & 0xff;
    }
    return b;
  }
  /** Recomputes the CRC when the buffer holds a whole frame per its length field. */
  fixCrc(b: Buffer): Buffer {
    if (b.length < 8) return b;
    const end = 7 + b.readUInt16BE(4);
    if (end < b.length) b[end] = crc8(b, 0, end);
    return b;
  }
  /** One mutated copy of a valid frame. */
  mutate(frame: Buffer): Buffer {
    const b = Buffer.from(frame);
    switch (this.int(7)) {
      case 0: {
        for (let k = 1 + this.int(4); k > 0; k--) b[this.int(b.length)]! ^= 1 << this.int(8);
        return this.chance(0.7) ? this.fixCrc(b) : b;
      }
      case 1:
        return b.subarray(0, this.int(b.length));
      case 2:
        b.writeUInt16BE(
          this.chance(0.5) ? this.int(0x10000) : Math.max(0, b.readUInt16BE(4) + this.int(9) - 4),
          4,
        );
        return this.chance(0.5) ? this.fixCrc(b) : b;
      case 3:
        b[6] = this.int(256);
        return this.fixCrc(b);
      case 4: {
        const at = 7 + this.int(Math.max(1, b.length - 8));
        b.fill(this.int(256), at, Math.min(b.length - 1, at + 1 + this.int(8)));
        return this.fixCrc(b);
      }
      case 5:
        return Buffer.concat([this.bytes(this.int(16)), b, this.bytes(this.int(16))]);
      default:
        return this.fixCrc(Buffer.concat([b.subarray(0, 7), this.bytes(Math.max(0, b.length - 7))]));
    }
  }
  /** Random type with a random TLV-ish payload and a valid CRC: reaches the message decoder. */
  randomFrame(): Buffer {
    const types = Object.values(FrameType) as number[];
    const type = this.chance(0.8) ? types[this.int(types.length)] : this.int(256);
    return encodeFrame(type!, this.bytes(this.int(64)));
  }
  /** Splits bytes into 1..4 chunks. */
  split(b: Buffer): Buffer[] {
    const parts = this.chance(0.7) ? 1 : 2 + this.int(3);
    if (parts === 1 || b.length < 2) return [b];
    const cuts = [...new Set(Array.from({ length: parts - 1 }, () => 1 + this.int(b.length - 1)))].sort(
      (x, y) => x - y,
    );
    return [0, ...cuts].map((c, i, all) => b.subarray(c, all[i + 1] ?? b.length));
  }
}

test(
  `gateway session fuzz: ${TOTAL.toLocaleString('en-US')} inputs, no escape, bounded, every close counted`,
  { timeout: 300_000 },
  async () => {
    const started = performance.now();
    // Refusals build Error objects; their stack traces are not what is fuzzed and cost a third of the run.
    const stackLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    const pki = cip22Pki();
    const clock = new StillClock();
    const sink = new CountingSink();
    const gateway = inprocGateway(clock, sink);
    const m = new Mutator(mulberry32(SEED));
    const tally = new Map<string, number>();
    const weak: WeakRef<PileSession>[] = [];
    let sessions = 0;
    let escaped = 0;
    let handshakes = 0;

    const retire = (s: PileSession): void => {
      if (!s.isClosed) return;
      assert.ok(s.endReason, 'a closed session has a reason');
      tally.set(s.endReason, (tally.get(s.endReason) ?? 0) + 1);
      if (weak.length < 2000 && sessions % 7 === 0) weak.push(new WeakRef(s));
    };
    const feed = (s: PileSession, bytes: Buffer): void => {
      for (const chunk of m.split(bytes)) {
        try {
          s.push(chunk);
        } catch {
          escaped++;
        }
      }
      assert.ok(bufferedBytes(s) <= MAX_PAYLOAD + 7, 'decoder buffer bounded');
    };
    const fresh = (keepInbox = false): InprocPile => {
      sessions++;
      return new InprocPile(gateway, `10.0.${m.int(4)}.${m.int(250)}`, keepInbox);
    };

    // Valid material to mutate: HELLOs, a real (now stale) AUTH_RESP.
    const hellos = [
      helloFrame(pki.p256.deviceId),
      helloFrame('pile-unknown-77'),
      helloFrame(pki.p256.deviceId, 'sm2'),
    ];
    const recorded = new InprocPile(gateway);
    sessions++;
    assert.ok(
      recorded.handshake('p256'),
      `first handshake: ${recorded.session.endReason} ${JSON.stringify(recorded.inbox.map((x) => x.type))}`,
    );
    const authResp = (() => {
      const c = recorded.inbox.find((x) => x.type === 'CHALLENGE');
      assert.ok(c);
      const { type, payload } = encodeMessage({
        type: 'AUTH_RESP',
        signature: m.bytes(70),
        pileCert: pki.p256.pile.der,
        issuerCert: pki.p256.issuing.der,
        pileEphemeralPub: Buffer.concat([Buffer.from([4]), m.bytes(64)]),
        policyHash: Buffer.alloc(32),
      });
      return encodeFrame(type, payload);
    })();

    const handshakers: InprocPile[] = Array.from({ length: 32 }, () => fresh());
    let open = recorded;
    let statusSeq = 0;
    const dataMessage = (): Cip22Message => {
      const k = m.int(5);
      if (k === 0) return { type: 'HEARTBEAT', timeMs: BigInt(m.int(1e9)) };
      if (k === 1) return { type: 'FAULT', msgSeq: statusSeq++, faultCode: m.int(100) };
      if (k === 2) return { type: 'CMD_ACK', msgSeq: statusSeq++, commandId: m.int(1000), result: m.int(3) };
      return {
        type: 'STATUS',
        msgSeq: statusSeq++,
        state: m.int(4) as 0 | 1 | 2 | 3,
        energyWh: m.int(1e5),
        voltageMv: 48_000,
      };
    };

    let baseline = 0;
    for (let i = 0; i < TOTAL; i++) {
      if (i === Math.floor(TOTAL / 10)) {
        await new Promise((r) => setImmediate(r));
        gc();
        baseline = process.memoryUsage().heapUsed;
      }
      if (m.chance(0.25)) {
        // Open-session lane: mostly valid sealed frames (split, glued, garbage around); some mutated.
        if (open.session.isClosed) {
          retire(open.session);
          open = fresh(true);
          handshakes++;
          assert.ok(open.handshake('p256'), `handshake ${handshakes} refused: ${open.session.endReason}`);
        }
        const sealed = open.sealed(dataMessage(), upSeq(open.session));
        const roll = m.int(100);
        if (roll < 2 && m.chance(0.05)) feed(open.session, m.mutate(sealed));
        else if (roll < 10) feed(open.session, Buffer.concat([m.bytes(m.int(24)), sealed]));
        else if (roll < 12 && m.chance(0.05)) feed(open.session, m.randomFrame());
        else feed(open.session, sealed);
        if ((i & 0x3ff) === 0) await new Promise((r) => setImmediate(r)); // let ACK promises settle
        continue;
      }
      // Handshake lane: HELLO / AUTH_RESP / random frames, mutated or random bytes.
      const slot = m.int(handshakers.length);
      const pile = handshakers[slot]!;
      const roll = m.int(100);
      let input: Buffer;
      if (roll < 30) input = m.bytes(m.int(48));
      else if (roll < 60) input = m.randomFrame();
      else if (roll < 94) input = m.mutate(hellos[m.chance(0.02) ? 2 : m.int(2)]!);
      else if (roll < 99) input = m.mutate(authResp);
      else input = (m.chance(0.5) ? hellos[m.int(2)] : authResp)!;
      feed(pile.session, input);
      if (pile.session.isClosed) {
        retire(pile.session);
        handshakers[slot] = fresh();
      }
    }

    // Every remaining session ends: handshakes time out, the open one loses its heartbeat.
    await new Promise((r) => setImmediate(r));
    clock.advance(gateway.config.handshakeTimeoutMs + 1);
    clock.advance(3 * gateway.config.heartbeatMs + 1);
    for (const p of [...handshakers, open]) {
      assert.ok(
        p.session.isClosed,
        `session still open after timeouts (phase ${p.session.isOpen ? 'open' : 'handshake'})`,
      );
      retire(p.session);
    }
    await gateway.stop();
    Error.stackTraceLimit = stackLimit;

    const closed = [...tally.values()].reduce((a, b) => a + b, 0);
    assert.equal(escaped, 0, 'no exception escapes push');
    assert.equal(closed, sessions, 'every session closed exactly once');
    for (const [reason, n] of tally) assert.equal(gateway.counter(reason), n, `counter ${reason}`);
    assert.equal(gateway.counter('internal-error'), 0, 'no internal error');
    assert.equal(gateway.status().sessions, 0);
    assert.equal(clock.pending, 0, 'no timer left behind');

    handshakers.length = 0;
    await new Promise((r) => setImmediate(r));
    gc();
    const growth = process.memoryUsage().heapUsed - baseline;
    const alive = weak.filter((w) => w.deref() !== undefined).length;
    const seconds = (performance.now() - started) / 1000;
    const top = [...tally]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([r, n]) => `${r}=${n}`)
      .join(' ');
    console.log(
      `# fuzz: ${TOTAL} inputs, ${sessions} sessions, ${handshakes} handshakes, ${sink.records} records, ${seconds.toFixed(1)} s, heap growth ${(growth / 1e6).toFixed(1)} MB, ${alive}/${weak.length} sampled closed sessions alive; ${top}`,
    );
    assert.ok(growth < 24e6, `heap grew ${(growth / 1e6).toFixed(1)} MB`);
    assert.ok(alive <= 2, `${alive} closed sessions still reachable`);
  },
);
