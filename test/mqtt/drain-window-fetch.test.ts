/**
 * DrainWindow with chunks read and built elsewhere (the drain's reader worker): the
 * fetches resolve later, here by hand. A chunk fetched before a reset is dropped; an empty
 * live fetch that raced a commit leaves the live lane readable; one fetch per lane at a time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Chunk } from '../../src/forwarders/mqtt/chunk-reader.js';
import { DrainWindow, type FetchRequest } from '../../src/forwarders/mqtt/drain-window.js';
import type { BuiltMessage } from '../../src/forwarders/mqtt/payload.js';

interface Fetch {
  readonly req: FetchRequest;
  resolve(chunk: Chunk): void;
}

function message(rowid: number, replay: boolean): BuiltMessage {
  return { topic: 't', payload: String(rowid), rowids: [rowid], device: 'd', cls: 'telemetry', replay };
}

function setup(): { win: DrainWindow; fetches: Fetch[]; landed: () => number } {
  const fetches: Fetch[] = [];
  let chunks = 0;
  const win = new DrainWindow({
    drain: 'fifo',
    batch: { maxRecords: 1, maxBytes: 1000 },
    read: () => assert.fail('reads go through fetch'),
    build: () => assert.fail('builds go through fetch'),
    fetch: (req) => new Promise<Chunk>((resolve) => fetches.push({ req, resolve })),
    onChunk: () => chunks++,
  });
  return { win, fetches, landed: () => chunks };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('fetched chunks land later, one fetch per lane at a time, in order', async () => {
  const { win, fetches, landed } = setup();
  win.reset(3, 2);
  assert.equal(win.next(), undefined, 'nothing is ready before the chunk lands');
  assert.equal(win.next(), undefined);
  assert.equal(fetches.length, 1, 'one fetch per lane at a time');
  assert.deepEqual(fetches[0]?.req, {
    afterRowid: 0,
    limit: 4, // AHEAD_WINDOWS (2) windows of records; a window's bytes
    maxBytes: 2000,
    beforeRowid: 4,
    replay: true,
  });
  fetches[0]?.resolve({ last: 2, messages: [message(1, true), message(2, true)] });
  await turn();
  assert.equal(landed(), 1);
  assert.equal(win.next()?.payload, '1');
  assert.equal(win.next()?.payload, '2');
  assert.equal(win.next(), undefined);
  assert.equal(fetches[1]?.req.afterRowid, 2, 'the next fetch starts after the chunk');
});

test('a chunk fetched before a reset (a reconnect) is dropped', async () => {
  const { win, fetches } = setup();
  win.reset(3, 2);
  win.next();
  win.reset(3, 2); // reconnected: everything is read again from the outbox
  fetches[0]?.resolve({ last: 2, messages: [message(1, true), message(2, true)] });
  await turn();
  assert.equal(win.next(), undefined, 'the stale chunk is not sent');
  assert.equal(fetches.length, 2);
  assert.equal(fetches[1]?.req.afterRowid, 0);
});

test('an empty live fetch that raced a commit keeps the live lane readable', async () => {
  const { win, fetches } = setup();
  win.reset(0, 2);
  assert.equal(win.next(), undefined);
  win.notifyCommit(); // a record committed while the fetch was out
  fetches[0]?.resolve({ last: 0, messages: [] });
  await turn();
  assert.equal(win.next(), undefined);
  assert.equal(fetches.length, 2, 'fetched again: the commit may have added records');
  fetches[1]?.resolve({ last: 0, messages: [] });
  await turn();
  assert.equal(win.next(), undefined);
  assert.equal(fetches.length, 2, 'no commit since: the live lane waits for the next one');
});

test('evicted: built-but-unsent messages and a fetch on its way are dropped, the lane reads again from its oldest unsent record', async () => {
  const { win, fetches } = setup();
  win.reset(10, 8);
  assert.equal(win.next(), undefined);
  fetches[0]?.resolve({ last: 4, messages: [1, 2, 3, 4].map((r) => message(r, true)) });
  await turn();
  const sent = win.next();
  assert.ok(sent);
  assert.deepEqual(sent?.rowids, [1]);
  win.add(sent, 0);
  win.prefetch(); // a second fetch (from rowid 4) goes out while 2, 3, 4 wait
  assert.equal(fetches.length, 2);
  win.evicted(); // the outbox evicted: 2..4 and what the fetch read may be gone
  fetches[1]?.resolve({ last: 8, messages: [5, 6, 7, 8].map((r) => message(r, true)) });
  await turn();
  assert.equal(win.next(), undefined, 'nothing read before the eviction goes out');
  assert.equal(fetches.length, 3);
  assert.equal(fetches[2]?.req.afterRowid, 1, 'read again after the last record sent');
  assert.equal(win.inflightMessages, 1, 'what is in flight stays (its PUBACK may come)');
});

test('read-ahead: a fetch goes out while fewer than AHEAD_WINDOWS + 1 windows of messages wait', async () => {
  const { win, fetches } = setup();
  win.reset(100, 2);
  win.next();
  fetches[0]?.resolve({ last: 4, messages: [1, 2, 3, 4].map((r) => message(r, true)) });
  await turn();
  const first = win.add(win.next() as BuiltMessage, 0);
  win.add(win.next() as BuiltMessage, 0);
  win.prefetch();
  assert.equal(fetches.length, 2, 'two messages wait (one window): the reader is asked already');
  assert.equal(fetches[1]?.req.afterRowid, 4);
  fetches[1]?.resolve({ last: 8, messages: [5, 6, 7, 8].map((r) => message(r, true)) });
  await turn();
  win.prefetch();
  assert.equal(fetches.length, 2, 'six wait (three windows): enough ahead, no fetch');
  win.settle(first, 1);
  const third = win.next() as BuiltMessage;
  assert.deepEqual(third.rowids, [3], 'rowid order kept');
  win.add(third, 1);
  win.prefetch();
  assert.equal(fetches.length, 3, 'five wait: the next chunk is asked for');
  assert.equal(fetches[2]?.req.afterRowid, 8);
});

test('read-ahead-bytes: no fetch goes out while a chunk of bytes (a window of messages) waits', async () => {
  const { win, fetches } = setup();
  win.reset(100, 2);
  win.next();
  const big = (rowid: number): BuiltMessage => ({ ...message(rowid, true), payload: 'x'.repeat(1000) });
  fetches[0]?.resolve({ last: 3, messages: [1, 2, 3].map(big) });
  await turn();
  win.prefetch();
  assert.equal(fetches.length, 1, '3,000 bytes wait, over the 2,000 of a chunk: no read-ahead');
  const id = win.add(win.next() as BuiltMessage, 0);
  win.add(win.next() as BuiltMessage, 0);
  win.settle(id, 1);
  win.prefetch();
  assert.equal(fetches.length, 2, 'one message (1,000 bytes) waits: the next chunk is asked for');
});
