/**
 * A suite that starts several peers must not leave one running when another fails to start:
 * a leftover child keeps the test file's process alive and the whole `node --test` run hangs.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { startMosquitto } from './mosquitto.js';
import { freePort } from './net.js';
import { startAll } from './peers.js';
import { startPymodbus } from './pymodbus.js';

/** Live children of this process, read from /proc (no `ps` child of our own to filter out). */
function children(): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we listed
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    const close = stat.lastIndexOf(')');
    const [state, ppid] = stat.slice(close + 2).split(' ');
    if (Number(ppid) === process.pid && state !== 'Z') found.push(stat.slice(0, close + 1));
  }
  return found;
}

test('startAll: the second peer fails to start, the first is stopped and no process is left behind', async () => {
  assert.deepEqual(children(), [], 'no children before the test');
  const port = await freePort();
  await assert.rejects(
    startAll([
      startMosquitto(),
      // A value past the end of its block: pymodbus_server.py dies with an IndexError at start.
      startPymodbus({ transport: 'tcp', port, slaves: { 1: { holding: { size: 1, values: { 5: [1] } } } } }),
    ]),
    (err: Error) => {
      assert.match(err.message, /1 of 2 peers failed to start \(1 started ones released\)/);
      assert.match(err.message, /pymodbus tcp server exited early/);
      assert.match(err.message, /IndexError/, 'the peer stderr is in the failure');
      return true;
    },
  );
  assert.deepEqual(children(), [], 'mosquitto and python are gone');
});

test('startAll: every peer started is returned, in order, when all start', async () => {
  const port = await freePort();
  const [broker, modbus] = await startAll([
    startMosquitto(),
    startPymodbus({ transport: 'tcp', port, slaves: { 1: {} } }),
  ]);
  try {
    assert.match(broker.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
    assert.match(modbus.output(), /READY/);
    assert.equal(children().length, 2);
  } finally {
    await Promise.allSettled([broker.close(), modbus.stop()]);
  }
  assert.deepEqual(children(), []);
});
