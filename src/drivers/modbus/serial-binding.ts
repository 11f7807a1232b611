/**
 * The binding every serial port of the agent opens with: serialport's own (the platform's
 * detected binding), except for reads on Linux and macOS. There @serialport/bindings-cpp
 * (13.0.0) answers a read that returns 0 bytes (a USB adapter unplugged, a pty whose other
 * end went away) by reading again at once, forever: a busy loop whose promise chain grows
 * until the process runs out of memory (serialport/bindings-cpp#162). Here a zero-byte read
 * is the device gone: the read fails, the stream closes the port as disconnected, and the
 * Line reconnects with its backoff.
 */
import { read } from 'node:fs';
import { SerialPort } from 'serialport';

export type SerialBinding = typeof SerialPort.binding;
type PortBinding = Awaited<ReturnType<SerialBinding['open']>>;
type ReadResult = Awaited<ReturnType<PortBinding['read']>>;
type OpenOptions = Parameters<SerialBinding['open']>[0];

/** Reads from a file descriptor; resolves the bytes read (the port of the tests' fakes). */
export type FdRead = (fd: number, buffer: Buffer, offset: number, length: number) => Promise<number>;

/** What a Unix port binding has besides the interface: its descriptor and its poller. */
interface UnixPort {
  readonly isOpen: boolean;
  readonly fd: number | null;
  readonly poller: { once(event: 'readable', listener: (err?: Error | null) => void): unknown };
}

const fsRead: FdRead = (fd, buffer, offset, length) =>
  new Promise((resolve, reject) =>
    read(fd, buffer, offset, length, null, (err, bytes) => (err ? reject(err) : resolve(bytes))),
  );

/** Errors that mean "nothing to read yet": wait until the poller says readable. */
const NOT_YET = new Set(['EAGAIN', 'EWOULDBLOCK', 'EINTR']);

/** The detected binding (or `base`) with zero-byte reads ending the port instead of spinning. */
export function eofSafeBinding(
  base: SerialBinding = SerialPort.binding,
  fdRead: FdRead = fsRead,
): SerialBinding {
  return {
    list: () => base.list(),
    open: async (options: OpenOptions) => {
      // The detected binding is one platform's: its open takes that platform's options.
      const open = base.open.bind(base) as (o: OpenOptions) => Promise<PortBinding>;
      const port = await open(options);
      if (isUnixPort(port))
        port.read = (buffer, offset, length) => readOnce(port, { buffer, offset, length }, fdRead);
      return port;
    },
  } as SerialBinding;
}

function isUnixPort(port: PortBinding): port is PortBinding & UnixPort {
  const candidate = port as Partial<UnixPort>;
  return typeof candidate.fd === 'number' && typeof candidate.poller?.once === 'function';
}

/** One read: waits while nothing is there, fails when the port closed or the device is gone. */
async function readOnce(
  port: UnixPort,
  { buffer, offset, length }: { buffer: Buffer; offset: number; length: number },
  fdRead: FdRead,
): Promise<ReadResult> {
  for (;;) {
    if (!port.isOpen || port.fd === null) throw canceled();
    let bytesRead: number;
    try {
      bytesRead = await fdRead(port.fd, buffer, offset, length);
    } catch (err) {
      if (!NOT_YET.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
      if (!port.isOpen) throw canceled();
      await new Promise<void>((resolve, reject) =>
        port.poller.once('readable', (e) => (e ? reject(e) : resolve())),
      );
      continue;
    }
    if (bytesRead === 0) throw deviceGone();
    return { buffer, bytesRead };
  }
}

/** What the stream takes for a read cut short by its own close (not a disconnect). */
function canceled(): Error {
  return Object.assign(new Error('Port is not open'), { canceled: true });
}

function deviceGone(): Error {
  return Object.assign(new Error('serial port read returned no bytes: the device is gone'), {
    code: 'EOF',
    disconnect: true,
  });
}
