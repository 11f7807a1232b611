/**
 * The hardware watchdog device (/dev/watchdog) for boxes without systemd. Opening arms
 * it; any write feeds it; writing the magic 'V' right before close disarms it (unless the
 * driver has nowayout). It is single-open: EBUSY means someone else, normally PID 1 via
 * RuntimeWatchdogSec, already owns it, and then the agent must leave it alone.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { EdgeError } from '../../core/errors.js';

export interface WatchdogDevice {
  /** Opens (arms) the device. Rejects EDGE_ERR_WATCHDOG_BUSY / EDGE_ERR_WATCHDOG_OPEN. */
  open(): Promise<void>;
  /** Feeds it (keepalive). */
  feed(): Promise<void>;
  /** Magic close: disarms and releases. Idempotent. */
  close(): Promise<void>;
}

export class DevWatchdog implements WatchdogDevice {
  private handle: FileHandle | undefined;

  constructor(private readonly path: string) {}

  async open(): Promise<void> {
    if (this.handle) return;
    try {
      this.handle = await open(this.path, 'w');
    } catch (err) {
      throw watchdogOpenError(this.path, err);
    }
  }

  async feed(): Promise<void> {
    if (!this.handle) throw new EdgeError('EDGE_ERR_WATCHDOG_OPEN', `${this.path} is not open`);
    try {
      await this.handle.write('\0');
    } catch (err) {
      throw new EdgeError('EDGE_ERR_WATCHDOG_OPEN', `cannot feed ${this.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (!handle) return;
    try {
      await handle.write('V');
    } finally {
      await handle.close();
    }
  }
}

function watchdogOpenError(path: string, err: unknown): EdgeError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'EBUSY') {
    return new EdgeError(
      'EDGE_ERR_WATCHDOG_BUSY',
      `${path} is busy (single-open): another process owns it, normally systemd via RuntimeWatchdogSec ` +
        '(check `systemctl show -p RuntimeWatchdogUSec`). Use watchdog.mode: systemd and let PID 1 own the hardware watchdog.',
      { cause: err, context: { path } },
    );
  }
  const hint =
    code === 'ENOENT'
      ? ' (no watchdog driver: dtparam=watchdog=on on a Raspberry Pi)'
      : code === 'EACCES'
        ? ' (permission: the agent user may not open it)'
        : '';
  return new EdgeError(
    'EDGE_ERR_WATCHDOG_OPEN',
    `cannot open ${path}: ${code ?? (err as Error).message}${hint}`,
    { cause: err, context: { path } },
  );
}

/** In-memory device with the real one's rules (single open, magic close); for tests. */
export class FakeWatchdogDevice implements WatchdogDevice {
  feeds = 0;
  opened = false;
  magicClosed = false;
  /** Set to make open() fail like a device systemd already holds. */
  busy = false;

  async open(): Promise<void> {
    if (this.busy || this.opened)
      throw watchdogOpenError('/dev/watchdog (fake)', Object.assign(new Error('busy'), { code: 'EBUSY' }));
    this.opened = true;
  }

  async feed(): Promise<void> {
    if (!this.opened) throw new EdgeError('EDGE_ERR_WATCHDOG_OPEN', 'fake watchdog not open');
    this.feeds++;
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    this.magicClosed = true;
  }
}
