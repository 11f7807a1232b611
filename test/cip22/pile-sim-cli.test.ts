/**
 * `edge-agent pile-sim` end to end: the CLI runs an SM2 and a P-256 pile (directory mode,
 * persistent state) against the gateway child process with a real SqliteOutbox: a charging
 * session, a fault, a dropped connection. The summary says all frames were ACKed with a
 * reconnect per pile; the SQLite file holds each (pile, msg_seq) once, the billing record
 * with the scripted energy, the fault, and the state events.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { cip22Pki } from '../helpers/cip22-pki.js';
import { tempDir } from '../helpers/tmp.js';
import { pileSimArgs, serverChainPem, startGatewayProc } from './gateway-proc.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

test(
  'pile-sim CLI: 2 piles, charging session, fault, drop → all ACKed, stored once, billing in the outbox',
  { timeout: 60_000 },
  async (t) => {
    const pki = cip22Pki();
    const tmp = tempDir('edge-agent-pile-sim-');
    const store = join(tmp.path, 'outbox.db');
    const gw = await startGatewayProc(store, serverChainPem(tmp.path));
    t.after(() => {
      if (gw.child.exitCode === null && gw.child.signalCode === null) gw.child.kill('SIGKILL');
      tmp.remove();
    });
    const args = pileSimArgs(tmp.path, gw.port, 150);
    args.push(
      '--duration-s',
      '3',
      '--session',
      '0.3:1.2:42',
      '--fault',
      '1.5:7',
      '--drop',
      '1.8',
      '--state-dir',
      join(tmp.path, 'state'),
    );
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, `exit ${code}: ${err}`);
    const summary = JSON.parse(out.trim().split('\n').at(-1) as string) as Record<string, number>;
    assert.equal(summary.piles, 2);
    assert.ok(summary.sent! >= 2 * 15, `sent ${summary.sent}`);
    assert.equal(summary.acked, summary.sent);
    assert.equal(summary.unacked, 0);
    assert.equal(summary.reconnects, 2, 'one reconnect per pile after the drop');
    const nextSeq = (id: string): number =>
      (JSON.parse(readFileSync(join(tmp.path, 'state', `${id}.json`), 'utf8')) as { nextSeq: number })
        .nextSeq;

    gw.child.kill('SIGTERM');
    assert.equal(await gw.exited, '0');
    const db = new Database(store, { readonly: true });
    const rows = db.prepare('SELECT device, cls, body FROM records').all() as {
      device: string;
      cls: number;
      body: string;
    }[];
    db.close();
    for (const id of [pki.sm2.deviceId, pki.p256.deviceId]) {
      const mine = rows.filter((r) => r.device === id);
      const seqs = mine
        .map(
          (r) => /"msg_seq":\{"v":(\d+)/.exec(r.body) ?? /"type":"cip22-fault".*"msgSeq":(\d+)/.exec(r.body),
        )
        .filter((m) => m !== null)
        .map((m) => Number(m[1]));
      assert.equal(new Set(seqs).size, seqs.length, `${id}: a msg_seq stored twice`);
      assert.equal(seqs.length, nextSeq(id), `${id}: every frame in the persisted msg_seq range stored`);
      const events = mine
        .filter((r) => r.body.startsWith('{"type":'))
        .map((r) => JSON.parse(r.body) as { type: string; data: Record<string, unknown> });
      const billing = events.filter((e) => e.type === 'cip22-charging-session');
      assert.equal(billing.length, 1, `${id}: one billing record`);
      assert.equal(billing[0]!.data.energyWh, 42);
      assert.equal(events.filter((e) => e.type === 'cip22-fault').length, 1, `${id}: the fault`);
      assert.ok(events.some((e) => e.type === 'cip22-state' && e.data.to === 'CHARGING'));
    }
  },
);
