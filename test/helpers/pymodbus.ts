/**
 * Real Modbus peers for tests: a pymodbus 3.0 server (Debian python3-pymodbus, run by
 * /usr/bin/python3) serving several slave ids with known contents, and a socat pty pair
 * for RTU. Every child exits when our stdin pipe closes, so a crashed test run leaves
 * nothing behind; `stop()` ends them explicitly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export const PYTHON = '/usr/bin/python3';

export interface AreaSpec {
  /** Block size in registers/bits (default 100); addresses >= size answer exception 02. */
  size?: number;
  /** Start address → consecutive values. */
  values?: Record<number, Array<number | boolean>>;
  /** Unmapped addresses inside the block: any read covering one answers exception 02. */
  holes?: number[];
}

export interface SlaveSpec {
  holding?: AreaSpec;
  input?: AreaSpec;
  coil?: AreaSpec;
  discrete?: AreaSpec;
}

export type PymodbusSpec = (
  { transport: 'tcp'; port: number } | { transport: 'rtu'; path: string; baudrate?: number }
) & {
  /** Ignore requests for absent slave ids (no answer: the client times out). Default rtu true, tcp false. */
  ignoreMissing?: boolean;
  slaves: Record<number, SlaveSpec>;
};

export interface Peer {
  readonly process: ChildProcess;
  readonly output: () => string;
  stop(): Promise<void>;
}

function scriptPath(): string {
  const candidates = [
    join(process.cwd(), 'test/helpers/pymodbus_server.py'),
    new URL('../../../test/helpers/pymodbus_server.py', import.meta.url).pathname,
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`pymodbus_server.py not found (looked in ${candidates.join(', ')})`);
  return found;
}

function stopChild(child: ChildProcess, graceMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    // closing stdin is the stop signal (pymodbus_server.py exits, sh kills socat)
    child.stdin?.end();
  });
}

async function spawnUntil(cmd: string, args: string[], ready: RegExp, what: string): Promise<Peer> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let exited = false;
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  child.once('exit', () => (exited = true));
  const peer: Peer = { process: child, output: () => out, stop: () => stopChild(child) };
  try {
    await waitFor(what, () => {
      if (exited) throw new Error(`${what} exited early:\n${out}`);
      return ready.test(out);
    });
  } catch (err) {
    await peer.stop();
    throw withOutput(err, what, out);
  }
  return peer;
}

/** A start error that carries the peer's stdout/stderr, so the failure names its cause. */
function withOutput(err: unknown, what: string, out: string): Error {
  const message = err instanceof Error ? err.message : String(err);
  if (message.includes(out)) return err instanceof Error ? err : new Error(message);
  return new Error(`${message}\n${what} output:\n${out || '(none)'}`, { cause: err });
}

export function startPymodbus(spec: PymodbusSpec): Promise<Peer> {
  return spawnUntil(
    PYTHON,
    [scriptPath(), JSON.stringify(spec)],
    /^READY$/m,
    `pymodbus ${spec.transport} server`,
  );
}

export interface PtyPair extends Peer {
  /** The end the driver opens. */
  readonly a: string;
  /** The end the server opens. */
  readonly b: string;
}

/** A socat pty pair with links `<dir>/a` and `<dir>/b`. */
export async function startPtyPair(dir: string, name = 'pty'): Promise<PtyPair> {
  const a = join(dir, `${name}-a`);
  const b = join(dir, `${name}-b`);
  // sh keeps socat tied to our stdin: when it closes (also if we crash), socat is killed.
  const script = `socat -d -d pty,raw,echo=0,link=${a} pty,raw,echo=0,link=${b} & pid=$!; cat >/dev/null; kill $pid; wait $pid`;
  const peer = await spawnUntil('sh', ['-c', script], /starting data transfer loop/, 'socat pty pair');
  try {
    await waitFor('pty links', () => existsSync(a) && existsSync(b));
  } catch (err) {
    await peer.stop();
    throw withOutput(err, 'socat pty pair', peer.output());
  }
  return { ...peer, a, b, stop: () => stopChild(peer.process, 2000) };
}
