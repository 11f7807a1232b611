/**
 * Crash durability: a child writes through SqliteOutbox and reports each commit; the
 * parent SIGKILLs it at random moments, restarts it, and finally checks that the file
 * is sound and holds every record reported committed (unless it was being acked).
 * SIGKILL loses the process, not the OS page cache: power loss is what synchronous=FULL
 * covers, and that is not simulated here.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { storeSchema } from '../../src/config/sections/store.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const writer = fileURLToPath(new URL('./fixtures/crash-writer.js', import.meta.url));
const CYCLES = 6;

it('keeps every reported commit across random SIGKILLs', { timeout: 120_000 }, async () => {
  const dir = tempDir('outbox-crash-');
  try {
    const path = join(dir.path, 'outbox.db');
    const committed = new Map<string, { device: string; seq: number }>();
    const ackIntents = new Set<string>();
    const pairs = new Set<string>();
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const child = spawn(process.execPath, [writer, path], { stdio: ['ignore', 'pipe', 'pipe'] });
      let buffered = '';
      let stderr = '';
      let linesThisCycle = 0;
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d: string) => (stderr += d));
      child.stdout.on('data', (chunk: string) => {
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? ''; // a line cut by the kill is ignored
        for (const line of lines) {
          const [kind, ...rest] = line.split(' ');
          if (kind === 'C') {
            const [id, device, seq] = rest;
            assert.ok(!committed.has(id!), `id ${id} reported twice`);
            const pair = `${device}/${seq}`;
            assert.ok(!pairs.has(pair), `seq ${pair} reused`);
            pairs.add(pair);
            committed.set(id!, { device: device!, seq: Number(seq) });
            linesThisCycle++;
          } else if (kind === 'A') for (const id of rest) ackIntents.add(id);
        }
      });
      const exited = new Promise<number | null>((resolve) =>
        child.once('exit', (code, signal) => resolve(signal ? null : code)),
      );
      await waitFor(`cycle ${cycle} commits (stderr: ${stderr})`, () => linesThisCycle >= 150, 20_000);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 300)));
      child.kill('SIGKILL');
      assert.equal(await exited, null, `writer was killed, not exited (stderr: ${stderr})`);
    }
    assert.ok(committed.size >= CYCLES * 150);

    const outbox = SqliteOutbox.open(storeSchema.parse({ path, integrityCheck: 'full' }), {
      clock: new ManualClock(),
      logger: silentLogger,
    });
    try {
      assert.equal(outbox.recovery, null, 'no corruption');
      const db = (outbox as unknown as { db: { pragma(s: string, o: object): unknown } }).db;
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      const rows = outbox.read(0, 10_000_000, Number.MAX_SAFE_INTEGER);
      const present = new Map(rows.map((r) => [r.id, r]));
      let missing = 0;
      for (const [id, info] of committed) {
        if (ackIntents.has(id)) continue;
        const row = present.get(id);
        if (!row) missing++;
        else assert.equal(row.seq, info.seq, `seq of ${id} as reported`);
      }
      assert.equal(missing, 0, 'every committed, un-acked record survives');
      const last = new Map<string, number>();
      for (const r of rows) {
        assert.ok(r.seq > (last.get(r.device) ?? 0), `seq of ${r.device} strictly increasing`);
        last.set(r.device, r.seq);
      }
    } finally {
      await outbox.close();
    }
  } finally {
    dir.remove();
  }
});
