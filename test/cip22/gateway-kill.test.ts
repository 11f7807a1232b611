/**
 * A killed agent loses no acknowledged frame: the gateway runs with a real SqliteOutbox in
 * a child process (fixtures/gateway-proc.ts); two piles with persistent msg_seq send
 * STATUS / FAULT / CMD_ACK bursts; the child is SIGKILLed while frames are in flight (after
 * 0, some and most ACKs), restarted on the same store, and the piles reconnect and resend
 * what was not ACKed. Reading the SQLite file: every ACKed frame is stored, and each
 * (pile, msg_seq) exactly once.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { type DataFields, SimPile } from '../../src/cip22/sim/pile.js';
import { cip22Pki } from '../helpers/cip22-pki.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { type GatewayProc, serverChainPem, startGatewayProc } from './gateway-proc.js';

function makePile(kind: 'sm2' | 'p256', port: number, stateFile: string): SimPile {
  const pki = cip22Pki();
  const m = kind === 'sm2' ? pki.sm2 : pki.p256;
  return new SimPile({
    host: '127.0.0.1',
    port,
    ca: [readFileSync(pki.p256.root.certPem)],
    deviceId: m.deviceId,
    alg: kind === 'sm2' ? 'sm2' : 'ecdsa-p256',
    key: m.pile.key,
    certDer: m.pile.der,
    issuerDer: m.issuing.der,
    stateFile,
  });
}

function frame(i: number): DataFields {
  if (i % 7 === 3) return { type: 'FAULT', faultCode: 40 + (i % 5) };
  if (i % 5 === 1) return { type: 'CMD_ACK', commandId: 1000 + i, result: 0 };
  return { type: 'STATUS', state: 0, voltageMv: 48_000 + i, energyWh: i };
}

/** msg_seq of every stored data frame, per pile (telemetry `msg_seq` tag, event `msgSeq`). */
function storedSeqs(store: string): Map<string, number[]> {
  const db = new Database(store, { readonly: true });
  try {
    const out = new Map<string, number[]>();
    for (const row of db.prepare('SELECT device, body FROM records').all() as {
      device: string;
      body: string;
    }[]) {
      const m =
        /"msg_seq":\{"v":(\d+)/.exec(row.body) ??
        /"type":"cip22-(?:fault|cmd-ack)".*"msgSeq":(\d+)/.exec(row.body);
      if (!m) continue;
      out.set(row.device, [...(out.get(row.device) ?? []), Number(m[1])]);
    }
    return out;
  } finally {
    db.close();
  }
}

test(
  'SIGKILLed gateway: every ACKed frame is stored, each (pile, msg_seq) once, after restarts and resends',
  { timeout: 120_000 },
  async (t) => {
    const tmp = tempDir('edge-agent-cip22-kill-');
    const procs: GatewayProc[] = [];
    const piles: SimPile[] = [];
    t.after(() => {
      for (const p of piles) p.close();
      for (const p of procs)
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      tmp.remove();
    });
    const store = join(tmp.path, 'outbox.db');
    const chain = serverChainPem(tmp.path);
    const acked = new Map<string, Set<number>>([]);
    const sent = new Map<string, number>();
    const kinds = ['p256', 'sm2'] as const;

    const connectAll = async (port: number): Promise<SimPile[]> => {
      const round = kinds.map((k) => makePile(k, port, join(tmp.path, `${k}.json`)));
      for (const p of round) {
        piles.push(p);
        const set = acked.get(p.deviceId) ?? new Set<number>();
        acked.set(p.deviceId, set);
        p.onFrame((msg) => {
          if (msg.type !== 'ACK') return;
          set.add(msg.msgSeq);
          onAck();
        });
      }
      await Promise.all(round.map((p) => p.connect()));
      return round;
    };
    const ackCount = (): number => [...acked.values()].reduce((a, s) => a + s.size, 0);
    // The kill happens inside the ACK listener, at an exact ACK count, not after a poll.
    let killAt = Infinity;
    let kill: (() => void) | undefined;
    const onAck = (): void => {
      if (kill && ackCount() >= killAt) {
        kill();
        kill = undefined;
      }
    };

    // Kill points: right after the burst is written (0 ACKs waited for), after a few, after most.
    let inFlightAtKill = 0;
    for (const waitAcks of [0, 10, 60]) {
      const proc = await startGatewayProc(store, chain);
      procs.push(proc);
      const round = await connectAll(proc.port);
      killAt = ackCount() + waitAcks;
      const burst = (n: number): void => {
        for (let i = 0; i < n; i++) {
          for (const p of round) {
            p.send(frame(p.nextSeq));
            sent.set(p.deviceId, p.nextSeq);
          }
        }
      };
      // The gateway may be ahead of what this process has read, so the kill also follows a
      // burst written in the same tick: those frames are in flight (a commit takes ≥ 5 ms).
      kill = () => {
        burst(5);
        proc.child.kill('SIGKILL');
      };
      burst(40);
      onAck();
      assert.equal(await proc.exited, 'SIGKILL');
      for (const p of round) p.close();
      if (round.every((p) => p.unackedCount > 0)) inFlightAtKill++;
    }
    assert.equal(inFlightAtKill, 3, 'frames were in flight at every kill');

    const final = await startGatewayProc(store, chain);
    procs.push(final);
    const round = await connectAll(final.port);
    await waitFor(
      'every frame ACKed after the resend',
      () => round.every((p) => p.unackedCount === 0),
      30_000,
    );
    for (const p of round) p.close();
    final.child.kill('SIGTERM');
    assert.equal(await final.exited, '0');

    const stored = storedSeqs(store);
    for (const [device, seqs] of acked) {
      const rows = stored.get(device) ?? [];
      const counts = new Map<number, number>();
      for (const s of rows) counts.set(s, (counts.get(s) ?? 0) + 1);
      for (const s of seqs) assert.ok(counts.has(s), `${device}: ACKed msg_seq ${s} not stored`);
      for (const [s, n] of counts) assert.equal(n, 1, `${device}: msg_seq ${s} stored ${n} times`);
      assert.equal(counts.size, sent.get(device) ?? 0, `${device}: every sent frame stored once`);
    }
  },
);
