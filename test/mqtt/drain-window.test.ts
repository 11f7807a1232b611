import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredRecord } from '../../src/core/types.js';
import { DrainWindow, type DrainPolicy } from '../../src/forwarders/mqtt/drain-window.js';
import type { BuiltMessage } from '../../src/forwarders/mqtt/payload.js';

/** An in-memory outbox and a builder that puts `perMessage` records in each message. */
function setup(drain: DrainPolicy, perMessage = 1, maxInflightBytes?: number) {
  const rows: StoredRecord[] = [];
  const reads: Array<{ after: number; limit: number; maxBytes: number; before: number | undefined }> = [];
  const backlogDone: number[] = [];
  const append = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const rowid = rows.length + 1;
      rows.push({
        rowid,
        id: `r${rowid}`,
        seq: rowid,
        device: 'd1',
        cls: 'telemetry',
        ts: rowid,
        body: '{}',
      });
    }
  };
  const win = new DrainWindow({
    drain,
    batch: { maxRecords: 2, maxBytes: 1000 },
    read: (after, limit, maxBytes, before) => {
      reads.push({ after, limit, maxBytes, before });
      return rows
        .filter((r) => r.rowid > after && (before === undefined || r.rowid < before))
        .slice(0, limit);
    },
    build: (records, replay) => {
      const out: BuiltMessage[] = [];
      for (let i = 0; i < records.length; i += perMessage) {
        const rowids = records.slice(i, i + perMessage).map((r) => r.rowid);
        out.push({
          topic: replay ? 'backlog' : 'live',
          payload: rowids.join(','),
          rowids,
          device: 'd1',
          cls: 'telemetry',
          replay,
        });
      }
      return out;
    },
    onBacklogRead: (watermark) => backlogDone.push(watermark),
    ...(maxInflightBytes !== undefined ? { maxInflightBytes } : {}),
  });
  return { win, append, reads, backlogDone };
}

/** Sends (and immediately settles) every ready message; returns their payloads. */
function drainAll(win: DrainWindow): string[] {
  const sent: string[] = [];
  for (let msg = win.next(); msg; msg = win.next()) {
    sent.push(`${msg.topic}:${msg.payload}`);
    win.settle(win.add(msg, 0));
  }
  return sent;
}

test('interleave: free slots alternate between the live and the backlog lane', () => {
  const { win, append, backlogDone } = setup('interleave');
  append(3);
  win.reset(3, 4);
  append(3);
  assert.equal(win.backlogPending, true);
  assert.deepEqual(drainAll(win), ['live:4', 'backlog:1', 'live:5', 'backlog:2', 'live:6', 'backlog:3']);
  assert.equal(win.backlogPending, false);
  assert.deepEqual(backlogDone, [3]);
});

test('fifo: the backlog lane is drained before any live record', () => {
  const { win, append } = setup('fifo');
  append(2);
  win.reset(2, 4);
  append(2);
  assert.deepEqual(drainAll(win), ['backlog:1', 'backlog:2', 'live:3', 'live:4']);
});

test('an empty outbox at connect has no backlog lane', () => {
  const { win, append, reads } = setup('fifo');
  win.reset(0, 4);
  assert.equal(win.backlogPending, false);
  append(1);
  assert.deepEqual(drainAll(win), ['live:1']);
  assert.ok(
    reads.every((r) => r.before === undefined),
    'only the live lane reads',
  );
});

test('the live lane is not read again after an empty read until a commit is notified', () => {
  const { win, append, reads } = setup('interleave');
  win.reset(0, 4);
  assert.equal(win.next(), undefined);
  const n = reads.length;
  append(1);
  assert.equal(win.next(), undefined, 'no commit notified yet');
  assert.equal(reads.length, n);
  win.notifyCommit();
  assert.equal(win.next()?.payload, '1');
});

test('reads are sized for a whole window and bounded by the watermark', () => {
  const { win, append, reads } = setup('fifo');
  append(10);
  win.reset(10, 3);
  win.next();
  assert.deepEqual(reads[0], { after: 0, limit: 6, maxBytes: 3000, before: 11 });
});

test('window accounting: room, in-flight records, peak, settle and clear', () => {
  const { win, append } = setup('interleave', 2);
  append(6);
  win.reset(6, 2);
  assert.equal(win.window, 2);
  assert.equal(win.watermark, 6);
  const a = win.next() as BuiltMessage;
  const idA = win.add(a, 10);
  const idB = win.add(win.next() as BuiltMessage, 11);
  assert.equal(win.hasRoom(), false);
  assert.equal(win.inflightMessages, 2);
  assert.equal(win.inflightRecords, 4);
  assert.equal(win.peakInflightMessages, 2);
  // 4 in flight + 2 built and waiting; nothing unread below the watermark.
  assert.equal(win.outstandingRecords(), 6);
  assert.equal(win.unreadLive(9), 3);

  const entry = win.settle(idA);
  assert.equal(entry?.msg, a);
  assert.equal(entry?.sentAt, 10);
  assert.equal(win.settle(idA), undefined, 'settled once');
  assert.equal(win.hasRoom(), true);
  assert.equal(win.inflightRecords, 2);

  win.clear();
  assert.equal(win.settle(idB), undefined, 'cleared');
  assert.equal(win.inflightMessages, 0);
  assert.equal(win.inflightRecords, 0);
  assert.equal(win.peakInflightMessages, 2, 'peak is kept');
});

test('window size is at least 1', () => {
  const { win } = setup('interleave');
  win.reset(0, 0);
  assert.equal(win.window, 1);
});

test('prefetch reads the next chunk ahead, so next() after a PUBACK does not read', () => {
  const { win, append, reads } = setup('fifo');
  append(20);
  win.reset(20, 2);
  const idA = win.add(win.next() as BuiltMessage, 0);
  const idB = win.add(win.next() as BuiltMessage, 0);
  assert.equal(reads.length, 1, 'one chunk of 4 messages');
  assert.equal(win.prefetch(), false, 'a window is ready: nothing read');
  win.settle(idA, 1);
  win.add(win.next() as BuiltMessage, 1);
  assert.equal(win.prefetch(), true, 'less than a window ready');
  assert.deepEqual(reads[1], { after: 4, limit: 4, maxBytes: 2000, before: 21 });
  win.settle(idB, 2);
  assert.equal(win.next()?.payload, '4');
  assert.equal(win.next()?.payload, '5', 'rowid order kept across chunks');
  assert.equal(reads.length, 2, 'no read in the PUBACK turn');
});

test('bytes in flight are bounded; one message always goes', () => {
  const { win, append } = setup('fifo', 1, 3);
  append(3);
  win.reset(3, 10);
  const a = win.next() as BuiltMessage; // payload '1': 1 byte
  win.add(a, 0);
  win.add(win.next() as BuiltMessage, 0);
  win.add(win.next() as BuiltMessage, 0);
  assert.equal(win.inflightBytes, 3);
  assert.equal(win.hasRoom(), false, 'at the bytes bound with 3 of 10 slots used');
});

test('ack-floor: a PUBACKed rowid is settled once no row of its lane below it is in flight, built or unread', () => {
  const { win, append } = setup('interleave', 2);
  append(10); // backlog 1..10 (watermark 10)
  win.reset(10, 3);
  append(4); // live 11..14
  win.notifyCommit();
  const sent: BuiltMessage[] = [];
  for (let msg = win.next(); msg && win.hasRoom(); msg = win.next()) {
    win.add(msg, 0);
    sent.push(msg);
  }
  // In flight: live [11,12], backlog [1,2], live [13,14]; built: backlog [3,4] onwards.
  assert.deepEqual(
    sent.map((m) => m.rowids),
    [
      [11, 12],
      [1, 2],
      [13, 14],
    ],
  );
  let settled = win.ackedBelowFloor();
  assert.equal(settled(1), false, 'its own message is in flight');
  assert.equal(settled(12), false);
  assert.equal(settled(15), false, 'unread rows of the live lane');
  assert.equal(settled(0), true);
  win.settle(1); // live [11,12] PUBACKed: [13,14] still in flight, so 11 and 12 are below the floor
  settled = win.ackedBelowFloor();
  assert.equal(settled(12), true, 'a live row below the live floor, whatever the backlog');
  assert.equal(settled(13), false);
  win.settle(2); // backlog [1,2]: [3,4] is built, not yet sent
  settled = win.ackedBelowFloor();
  assert.equal(settled(2), true);
  assert.equal(settled(3), false, 'a built message holds the floor');
});
