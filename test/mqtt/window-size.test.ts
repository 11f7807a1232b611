/** The drain window sized by PUBACK latency (shrinks when messages queue, grows back) and bytes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WindowSize } from '../../src/forwarders/mqtt/window-size.js';

test('window-shrinks-on-queueing: latencies far above the base shrink it, one step per window', () => {
  const w = new WindowSize({ maxMessages: 8, maxBytes: 1e9 });
  for (let i = 0; i < 8; i++) w.acked(20, true); // base 20 ms, target max(50, 80) = 80 ms
  assert.equal(w.messages, 8, 'full window at low latency stays at the maximum');
  for (let i = 0; i < 8; i++) w.acked(500, true);
  assert.equal(w.messages, 7);
  for (let i = 0; i < 7; i++) w.acked(500, true);
  assert.equal(w.messages, 6);
  for (let i = 0; i < 6; i++) w.acked(30, true);
  assert.equal(w.messages, 7, 'grows back when full and below half the target');
  for (let i = 0; i < 20; i++) w.acked(30, false);
  assert.equal(w.messages, 7, 'a window that is not full does not grow');
});

test('window-latency-floor: a fast link is not shrunk by pauses under 50 ms', () => {
  const w = new WindowSize({ maxMessages: 4, maxBytes: 1e9 });
  for (let i = 0; i < 40; i++) w.acked(i % 2 ? 0.2 : 45, true);
  assert.equal(w.messages, 4);
  for (let i = 0; i < 100; i++) w.acked(400, true);
  assert.equal(w.messages, 1, 'never below one');
});

test('window-bytes: admits while under the bytes bound, always one message', () => {
  const w = new WindowSize({ maxMessages: 10, maxBytes: 100 });
  assert.equal(w.admits(0, 0, 500), true, 'an empty window takes any message');
  assert.equal(w.admits(1, 60, 40), true);
  assert.equal(w.admits(1, 60, 41), false);
  assert.equal(w.admits(10, 0, 1), false, 'message bound');
});
