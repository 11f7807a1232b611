/** DTU simulator pieces without peers: byte specs, rates, PRNG, RTU framing, CLI parsing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBytes, toHex } from '../../src/tools/dtu-sim/bytes.js';
import { hits, parseRate } from '../../src/tools/dtu-sim/faults.js';
import { seededRandom } from '../../src/tools/dtu-sim/prng.js';
import { RtuResponseFramer, crcOk, responseLength } from '../../src/tools/dtu-sim/rtu-framer.js';
import { parseDtuSimArgs } from '../../src/tools/dtu-sim/cli-args.js';
import { waitFor } from '../helpers/wait.js';
import { holdingResponse, withCrc } from './agent.js';

test('byte specs: ascii, hex, escapes, none', () => {
  assert.deepEqual(parseBytes('ascii:DTU-0001'), Buffer.from('DTU-0001'));
  assert.deepEqual(parseBytes('hex:FE'), Buffer.from([0xfe]));
  assert.deepEqual(parseBytes('hex:fe 01-a0'), Buffer.from([0xfe, 0x01, 0xa0]));
  assert.deepEqual(parseBytes('hex:0xFE01'), Buffer.from([0xfe, 0x01]));
  assert.deepEqual(parseBytes('ascii:HB\\r\\n\\x7F'), Buffer.from('HB\r\n\x7f', 'latin1'));
  assert.deepEqual(parseBytes('864512345678901'), Buffer.from('864512345678901'));
  assert.equal(parseBytes('none').length, 0);
  assert.throws(() => parseBytes('hex:F'));
  assert.throws(() => parseBytes('hex:ZZ'));
  assert.equal(toHex(Buffer.from([1, 0xab])), '01 AB');
});

test('fault rates: parsing and hits', () => {
  assert.equal(parseRate('always'), true);
  assert.equal(parseRate('off'), false);
  assert.deepEqual(parseRate('every:3'), { every: 3 });
  assert.deepEqual(parseRate('3'), { every: 3 });
  assert.deepEqual(parseRate('0.25'), { probability: 0.25 });
  assert.deepEqual(parseRate('p:1'), { probability: 1 });
  assert.deepEqual(parseRate('every:5,p:0.1'), { every: 5, probability: 0.1 });
  assert.throws(() => parseRate('sometimes'));
  const r = seededRandom(1);
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((i) => hits({ every: 3 }, i, r)),
    [false, false, true, false, false, true],
  );
  assert.equal(hits(true, 1, r), true);
  assert.equal(hits(undefined, 1, r), false);
  const a = seededRandom(42);
  const b = seededRandom(42);
  const pa = Array.from({ length: 50 }, (_, i) => hits({ probability: 0.5 }, i + 1, a));
  const pb = Array.from({ length: 50 }, (_, i) => hits({ probability: 0.5 }, i + 1, b));
  assert.deepEqual(pa, pb);
  assert.ok(pa.some((x) => x) && pa.some((x) => !x));
});

test('RTU framer: length parsing, chunked input, exceptions, writes, gap fallback', async () => {
  const read = holdingResponse(1, [1, 2, 3]);
  const exc = withCrc([1, 0x83, 0x02]);
  const write = withCrc([1, 0x06, 0, 1, 0, 5]);
  assert.equal(responseLength(read), read.length);
  assert.equal(responseLength(exc), 5);
  assert.equal(responseLength(Buffer.from([1])), 'more');
  assert.equal(responseLength(Buffer.from([1, 3])), 'more');
  assert.ok(crcOk(read) && crcOk(exc) && !crcOk(Buffer.from([1, 3, 0, 0])));

  const frames: Array<[string, boolean]> = [];
  const framer = new RtuResponseFramer((f, parsed) => frames.push([f.toString('hex'), parsed]), {
    gapMs: 20,
  });
  const all = Buffer.concat([read, exc, write]);
  for (let i = 0; i < all.length; i += 3) framer.push(all.subarray(i, i + 3));
  assert.deepEqual(frames, [
    [read.toString('hex'), true],
    [exc.toString('hex'), true],
    [write.toString('hex'), true],
  ]);
  frames.length = 0;
  framer.push(Buffer.from('68 11 22 33 16'.replace(/ /g, ''), 'hex')); // not Modbus: gap decides
  assert.equal(frames.length, 0);
  await waitFor('the quiet gap closes the frame', () => frames.length > 0, 2000, 2);
  assert.deepEqual(frames, [['6811223316', false]]);
  framer.dispose();
});

test('CLI args: dial mode with every flag, listen mode, errors', () => {
  const o = parseDtuSimArgs(
    (
      '--agent 127.0.0.1:9000 --registration ascii:DTU-0001 --heartbeat hex:FE --heartbeat-interval-ms 1000 ' +
      '--serial /dev/pts/3 --baud 19200 --parity even --stop-bits 2 --data-bits 7 --framing gap --frame-gap-ms 8 ' +
      '--reconnect-delay-ms 50 --heartbeat-mid-frame p:0.5 --split always --split-max-chunks 3 --split-gap-ms 2 ' +
      '--glue every:4 --glue-max-hold-ms 900 --garbage 0.1 --garbage-bytes 2-5 --delay-ms 3000 --delay-every 7 ' +
      '--drop-every 10 --silent --seed 99 --stats-interval-ms 5000 --verbose'
    ).split(' '),
  );
  assert.deepEqual(o.agent, { host: '127.0.0.1', port: 9000 });
  assert.equal(o.registration, 'ascii:DTU-0001');
  assert.equal(o.heartbeat, 'hex:FE');
  assert.equal(o.heartbeatIntervalMs, 1000);
  assert.deepEqual(o.serial, {
    path: '/dev/pts/3',
    baudRate: 19200,
    parity: 'even',
    stopBits: 2,
    dataBits: 7,
  });
  assert.equal(o.framing, 'gap');
  assert.equal(o.frameGapMs, 8);
  assert.equal(o.reconnectDelayMs, 50);
  assert.equal(o.seed, 99);
  assert.equal(o.statsIntervalMs, 5000);
  assert.equal(o.verbose, true);
  assert.deepEqual(o.faults, {
    heartbeatMidFrame: { probability: 0.5 },
    split: true,
    splitMaxChunks: 3,
    splitGapMs: 2,
    glue: { every: 4 },
    glueMaxHoldMs: 900,
    garbage: { probability: 0.1 },
    garbageMinBytes: 2,
    garbageMaxBytes: 5,
    delayMs: 3000,
    delayEvery: 7,
    dropEvery: 10,
    silent: true,
  });
  const l = parseDtuSimArgs(['--listen', '9100', '--serial', '/dev/ttyUSB0']);
  assert.deepEqual(l.listen, { host: '0.0.0.0', port: 9100 });
  assert.equal(l.agent, undefined);
  assert.throws(() => parseDtuSimArgs(['--serial', '/dev/x']), /exactly one/);
  assert.throws(
    () => parseDtuSimArgs(['--agent', '1.2.3.4:1', '--listen', '9', '--serial', 'x']),
    /exactly one/,
  );
  assert.throws(() => parseDtuSimArgs(['--agent', '1.2.3.4:1']), /--serial/);
  assert.throws(() => parseDtuSimArgs(['--agent', 'nohost', '--serial', 'x']), /HOST:PORT/);
  assert.throws(() => parseDtuSimArgs(['--agent', 'h:1', '--serial', 'x', '--heartbeat', 'hex:Q']), /hex/);
  assert.throws(() => parseDtuSimArgs(['--agent', 'h:1', '--serial', 'x', '--bogus']));
});
