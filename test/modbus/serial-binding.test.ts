/**
 * serial-eof-device-gone: @serialport/bindings-cpp reads again at once, forever, when a read
 * returns 0 bytes (a USB adapter unplugged, a pty whose other end went away): a busy loop
 * whose promise chain grew until the test runner's async-hook map overflowed (CI, the echo
 * suite's "losing the port" test). eofSafeBinding ends the port instead. The platform's
 * binding is a fake here (no device can vanish on cue); the descriptor reads are the port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { SerialPort } from 'serialport';
import { eofSafeBinding, type FdRead, type SerialBinding } from '../../src/drivers/modbus/serial-binding.js';

/** A Unix port binding as bindings-cpp makes one: a descriptor, a poller, and a read that must not be used. */
function fakeUnixPort(): Record<string, unknown> & { poller: EventEmitter; fd: number | null } {
  const port = {
    fd: 7 as number | null,
    poller: new EventEmitter(),
    openOptions: {},
    get isOpen(): boolean {
      return port.fd !== null;
    },
    close: () => {
      port.fd = null;
      return Promise.resolve();
    },
    read: () => Promise.reject(new Error('the platform read must not run')),
    write: () => Promise.resolve(),
    update: () => Promise.resolve(),
    set: () => Promise.resolve(),
    get: () => Promise.resolve({ cts: false, dsr: false, dcd: false }),
    getBaudRate: () => Promise.resolve({ baudRate: 9600 }),
    flush: () => Promise.resolve(),
    drain: () => Promise.resolve(),
  };
  return port;
}

function fakeBase(port: ReturnType<typeof fakeUnixPort>): SerialBinding {
  return { list: () => Promise.resolve([]), open: () => Promise.resolve(port) } as unknown as SerialBinding;
}

/** A descriptor read answering from a script: a byte count, or an errno code to throw. */
function scriptedRead(script: (number | string)[]): FdRead & { calls: number } {
  const read = Object.assign(
    async (_fd: number, buffer: Buffer, offset: number): Promise<number> => {
      read.calls++;
      const step = script.shift() ?? 0;
      if (typeof step === 'string') throw Object.assign(new Error(step), { code: step });
      buffer.fill(0x2a, offset, offset + step);
      return step;
    },
    { calls: 0 },
  );
  return read;
}

type PortBinding = Awaited<ReturnType<SerialBinding['open']>>;

/** Opens a fake device through the binding (its open takes one platform's options). */
function openThrough(binding: SerialBinding): Promise<PortBinding> {
  const open = binding.open.bind(binding) as (options: {
    path: string;
    baudRate: number;
  }) => Promise<PortBinding>;
  return open({ path: '/dev/fake', baudRate: 9600 });
}

test('serial-eof-device-gone: a zero-byte read fails once as the device gone, and is not read again', async () => {
  const read = scriptedRead([0, 0, 0]);
  const port = await openThrough(eofSafeBinding(fakeBase(fakeUnixPort()), read));
  await assert.rejects(
    port.read(Buffer.alloc(16), 0, 16),
    (err: NodeJS.ErrnoException & { disconnect?: boolean }) => {
      assert.match(err.message, /no bytes: the device is gone/);
      assert.equal(err.disconnect, true);
      return true;
    },
  );
  assert.equal(read.calls, 1, 'one read, no loop');
});

test('serial-eof-device-gone: EAGAIN waits for the poller, then the bytes are read', async () => {
  const raw = fakeUnixPort();
  const read = scriptedRead(['EAGAIN', 5]);
  const port = await openThrough(eofSafeBinding(fakeBase(raw), read));
  const buffer = Buffer.alloc(16);
  const pending = port.read(buffer, 2, 8);
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(read.calls, 1, 'waiting for readable, not reading again');
  raw.poller.emit('readable', null);
  const got = await pending;
  assert.equal(got.bytesRead, 5);
  assert.deepEqual([...buffer.subarray(2, 7)], [42, 42, 42, 42, 42]);
  assert.equal(read.calls, 2);
});

test('serial-eof-device-gone: a read after close is cancelled, not a disconnect', async () => {
  const raw = fakeUnixPort();
  const port = await openThrough(eofSafeBinding(fakeBase(raw), scriptedRead([5])));
  await port.close();
  await assert.rejects(
    port.read(Buffer.alloc(4), 0, 4),
    (err: { canceled?: boolean }) => err.canceled === true,
  );
});

test('serial-eof-device-gone: through serialport, the port closes as disconnected after one read', async () => {
  const read = scriptedRead([3, 0, 0, 0]);
  const options = {
    path: '/dev/fake',
    baudRate: 9600,
    autoOpen: false,
    binding: eofSafeBinding(fakeBase(fakeUnixPort()), read),
  };
  const port = new SerialPort(options);
  const chunks: Buffer[] = [];
  port.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<Error & { disconnected?: boolean }>((resolve) => port.once('close', resolve));
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  const err = await closed;
  assert.equal(err.disconnected, true, 'closed as a disconnect');
  assert.match(err.message, /device is gone/);
  assert.equal(Buffer.concat(chunks).length, 3, 'the bytes before the end were delivered');
  assert.equal(read.calls, 2, 'the read that returned nothing was the last');
  assert.equal(port.isOpen, false);
});
