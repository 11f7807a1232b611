/**
 * pymodbus RTU slaves behind a socat pty pair, for the suites that put something (the DTU
 * simulator, a driver) on the pair's other end. The slave data is the caller's; the peers
 * start in a before() hook and stop in an after() hook of the suite (or file) that calls this.
 */
import { after, before } from 'node:test';
import { startPtyPair, startPymodbus, type Peer, type PtyPair, type SlaveSpec } from './pymodbus.js';
import { tempDir } from './tmp.js';

export interface RtuSlavesOptions {
  /** The temporary directory's prefix (it holds the pty links); names the suite in a leftover. */
  readonly dirPrefix: string;
  readonly baudrate: number;
  /** Slave id → its registers and bits. */
  readonly slaves: Record<number, SlaveSpec>;
}

export interface RtuSlaves {
  /** The pty pair; the slaves hold `pty.b`, the side under test opens `pty.a`. */
  readonly pty: PtyPair;
  /** The temporary directory that holds the pty links; a test may put its own pair there. */
  readonly dir: string;
}

/** Registers the hooks that start the pty pair and the slaves before the tests and stop them after. */
export function rtuSlavesOnPty(options: RtuSlavesOptions): RtuSlaves {
  let dir: ReturnType<typeof tempDir> | undefined;
  let pty: PtyPair | undefined;
  let slaves: Peer | undefined;

  before(async () => {
    dir = tempDir(options.dirPrefix);
    pty = await startPtyPair(dir.path);
    slaves = await startPymodbus({
      transport: 'rtu',
      path: pty.b,
      baudrate: options.baudrate,
      ignoreMissing: true,
      slaves: options.slaves,
    });
  });

  after(async () => {
    await slaves?.stop();
    await pty?.stop();
    dir?.remove();
  });

  return {
    get pty(): PtyPair {
      if (!pty) throw new Error('the pty pair starts in before()');
      return pty;
    },
    get dir(): string {
      if (!dir) throw new Error('the directory is made in before()');
      return dir.path;
    },
  };
}
