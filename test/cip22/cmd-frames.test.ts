/**
 * The CMD frames a pile receives for the machine's `send` effects: command codes and
 * MQTT JSON params as TLVs (u32 big-endian numbers, UTF-8 strings, tags 0..255).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { cmdFrames } from '../../src/cip22/gateway/commands.js';

it('cmd-frames: only send effects become CMD frames, params as TLVs in key order', () => {
  const frames = cmdFrames([
    { kind: 'send', wireId: 7, command: 'start', params: { '1': 300, '0x02': 'card-42', '999': 1 } },
    { kind: 'result', requestId: 'r', command: 'stop', ok: true },
    { kind: 'send', wireId: 8, command: 'begin-upgrade' },
  ]);
  const u32 = Buffer.alloc(4);
  u32.writeUInt32BE(300);
  assert.deepEqual(frames, [
    {
      type: 'CMD',
      commandId: 7,
      command: 1,
      params: [
        { tag: 1, value: u32 },
        { tag: 2, value: Buffer.from('card-42', 'utf8') },
      ],
    },
    { type: 'CMD', commandId: 8, command: 4 },
  ]);
});
