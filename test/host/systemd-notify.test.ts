/**
 * The systemd-notify CLI sink against a real unix datagram socket (python3 plays
 * systemd): messages arrive, the barrier is honoured, one process at a time; and a real
 * blocked event loop in a child process stops the WATCHDOG=1 pings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import { SystemdNotifyCli, runSystemdNotify, type RunNotify } from '../../src/host/watchdog/notify-sink.js';
import { captureLogger } from '../helpers/logger.js';
import { startFakeNotifySocket } from '../helpers/notify-socket.js';
import { waitFor } from '../helpers/wait.js';

test('systemd-notify CLI delivers READY/STATUS/WATCHDOG/STOPPING to the socket, waiting on the barrier', async (t) => {
  const sock = await startFakeNotifySocket();
  t.after(() => sock.close());
  const sink = new SystemdNotifyCli(
    { command: 'systemd-notify', socket: sock.path, timeoutMs: 10_000 },
    { clock: systemClock, logger: captureLogger() },
  );
  await sink.notify('READY=1\nSTATUS=running: 3 devices');
  await sink.notify('WATCHDOG=1');
  await sink.notify('STOPPING=1');
  await waitFor(
    'three messages read from the fake socket',
    () => sock.barriers() === 3 && sock.messages().length === 3,
  );
  const msgs = sock.messages().map((m) => m.msg);
  assert.deepEqual(msgs, ['READY=1\nSTATUS=running: 3 devices', 'WATCHDOG=1', 'STOPPING=1']);
  // systemd-notify (v246+, here 252) sends BARRIER=1 with a pipe fd and waits for it: the
  // attribution race is closed because it is still alive when the manager reads the message.
  assert.equal(sock.barriers(), 3);
  assert.equal(sink.failureCount, 0);
});

test('never more than one systemd-notify in flight: messages sent meanwhile are merged', async (t) => {
  const sock = await startFakeNotifySocket();
  t.after(() => sock.close());
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  const counting: RunNotify = async (...args) => {
    running++;
    runs++;
    maxRunning = Math.max(maxRunning, running);
    try {
      return await runSystemdNotify(...args);
    } finally {
      running--;
    }
  };
  const sink = new SystemdNotifyCli(
    { command: 'systemd-notify', socket: sock.path, timeoutMs: 10_000 },
    { clock: systemClock, logger: captureLogger(), run: counting },
  );
  await Promise.all([
    sink.notify('READY=1'),
    sink.notify('STATUS=a'),
    sink.notify('WATCHDOG=1'),
    sink.notify('STATUS=b'),
    sink.notify('WATCHDOG=1'),
  ]);
  assert.equal(maxRunning, 1);
  assert.equal(runs, 2, 'the first alone, the four queued behind it as one');
  await waitFor('two messages read from the fake socket', () => sock.messages().length === 2);
  const all = sock.messages().map((m) => m.msg);
  assert.equal(all[0], 'READY=1');
  assert.deepEqual(all[1]!.split('\n').sort(), ['STATUS=b', 'WATCHDOG=1']);
});

test('a missing socket or binary is logged once per rate window, never thrown', async () => {
  const log = captureLogger();
  const sink = new SystemdNotifyCli(
    { command: 'systemd-notify', socket: '/nonexistent/notify.sock', timeoutMs: 5_000, logEveryMs: 60_000 },
    { clock: systemClock, logger: log },
  );
  await sink.notify('WATCHDOG=1');
  await sink.notify('WATCHDOG=1');
  assert.equal(sink.failureCount, 2);
  const warned = log.lines.filter((l) => l.obj.code === 'EDGE_ERR_WATCHDOG_NOTIFY');
  assert.equal(warned.length, 1);
  assert.match(String(warned[0]!.obj.err), /exit 1/);
  const missing = new SystemdNotifyCli(
    { command: '/nonexistent/systemd-notify', socket: '/tmp/x', timeoutMs: 5_000 },
    { clock: systemClock, logger: log },
  );
  await missing.notify('READY=1');
  assert.equal(missing.failureCount, 1);
  assert.match(String(log.lines.at(-1)?.obj.err), /ENOENT/);
});

test('a blocked event loop (real child process) stops WATCHDOG=1 until it runs again', async (t) => {
  const sock = await startFakeNotifySocket();
  t.after(() => sock.close());
  const child = spawn(
    process.execPath,
    [join(process.cwd(), 'dist/test/host/fixtures/blocked-loop-child.js')],
    {
      env: { ...process.env, NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '1000000', BLOCK_MS: '3000' },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0);
  await waitFor('STOPPING=1 received', () => sock.messages().some((m) => m.msg.startsWith('STOPPING=1')));
  const msgs = sock.messages();
  assert.equal(msgs[0]!.msg, 'READY=1\nSTATUS=child running');
  const pings = msgs.filter((m) => m.msg.split('\n').includes('WATCHDOG=1'));
  assert.ok(pings.length >= 4, `pings: ${pings.length}`);
  const gaps = pings.slice(1).map((p, i) => p.t - pings[i]!.t);
  const longest = Math.max(...gaps);
  // Interval 500 ms; blocked 3 s, then the first tick sees the lag and withholds its ping.
  assert.ok(longest >= 3.0, `longest gap between pings ${longest.toFixed(2)} s`);
  const unhealthy = msgs.findIndex((m) => m.msg.startsWith('STATUS=unhealthy: event loop lag'));
  assert.ok(unhealthy > 0, msgs.map((m) => m.msg).join(' | '));
  const resumed = msgs.findIndex((m) => m.msg.includes('STATUS=running'));
  assert.ok(resumed > unhealthy, 'STATUS=running after recovery');
  assert.ok(
    msgs.slice(resumed).some((m) => m.msg.split('\n').includes('WATCHDOG=1')),
    'pings resume',
  );
});
