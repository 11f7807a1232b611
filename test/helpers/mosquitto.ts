/**
 * A real mosquitto broker for integration tests and benches: ephemeral port on
 * 127.0.0.1, config in a temp dir, `stop()` / `restart()` on the same port(s).
 * Always call `close()` (stop + remove the temp dir) in the test's cleanup.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './net.js';
import { tempDir } from './tmp.js';

export const MOSQUITTO_BIN = process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto';

export interface MosquittoOptions {
  /** Default true. */
  readonly allowAnonymous?: boolean;
  /** username → password; written with mosquitto_passwd into a password_file. */
  readonly users?: Readonly<Record<string, string>>;
  /** Adds a TLS 1.3-only listener (tlsPort) beside the plain one. */
  readonly tls?: {
    readonly ca: string;
    readonly cert: string;
    readonly key: string;
    readonly requireCertificate?: boolean;
  };
  /** Keep sessions and queued messages across stop()/restart() (persistence file in the temp dir). */
  readonly persistence?: boolean;
  /** Extra global config lines (e.g. 'max_inflight_messages 100'). */
  readonly extra?: readonly string[];
}

export interface MosquittoBroker {
  readonly port: number;
  /** 0 when no TLS listener. */
  readonly tlsPort: number;
  readonly url: string;
  readonly tlsUrl: string;
  readonly running: boolean;
  /** Collected stderr (mosquitto logs errors/warnings there). */
  log(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit (simulates a crash). */
  kill(): Promise<void>;
  /** Starts again on the same port(s). */
  restart(): Promise<void>;
  /** stop() and remove the temp dir. Safe to call twice. */
  close(): Promise<void>;
}

function waitForPort(port: number, proc: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        reject(new Error(`mosquitto exited early (${proc.exitCode ?? proc.signalCode})`));
        return;
      }
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline)
          reject(new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 20);
      });
    };
    attempt();
  });
}

/**
 * A test file that times out is ended by node --test with SIGTERM, which skips 'exit'
 * handlers: these kill the brokers still running, then let the signal take its default
 * course, so no mosquitto outlives its test file.
 */
const exitHooks = new Set<() => void>();
const onTermination = (signal: NodeJS.Signals): void => {
  for (const hook of exitHooks) hook();
  process.off('SIGTERM', onTermination);
  process.off('SIGINT', onTermination);
  process.kill(process.pid, signal);
};
process.on('SIGTERM', onTermination);
process.on('SIGINT', onTermination);

export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoBroker> {
  const dir = tempDir('edge-agent-mosquitto-');
  const port = await freePort();
  const tlsPort = options.tls ? await freePort() : 0;
  const lines = [
    'per_listener_settings false',
    ...(options.persistence
      ? ['persistence true', `persistence_location ${dir.path}/`]
      : ['persistence false']),
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'user root',
    `allow_anonymous ${options.allowAnonymous ?? true}`,
    // Test subscribers may lag behind a fast drain: do not drop their QoS 1 queue.
    'max_queued_messages 0',
    ...(options.extra ?? []),
  ];
  if (options.users) {
    const file = join(dir.path, 'passwd');
    writeFileSync(file, '', { mode: 0o644 });
    for (const [user, password] of Object.entries(options.users)) {
      execFileSync('mosquitto_passwd', ['-b', file, user, password], { stdio: 'ignore' });
    }
    lines.push(`password_file ${file}`);
  }
  lines.push(`listener ${port} 127.0.0.1`);
  if (options.tls) {
    lines.push(
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${options.tls.ca}`,
      `certfile ${options.tls.cert}`,
      `keyfile ${options.tls.key}`,
      'tls_version tlsv1.3',
      `require_certificate ${options.tls.requireCertificate ?? true}`,
    );
  }
  const confFile = join(dir.path, 'mosquitto.conf');
  writeFileSync(confFile, lines.join('\n') + '\n');

  let proc: ChildProcess | undefined;
  let stderr = '';
  let closed = false;

  const launch = async (): Promise<void> => {
    const child = spawn(MOSQUITTO_BIN, ['-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
    });
    proc = child;
    try {
      await waitForPort(port, child);
      if (tlsPort) await waitForPort(tlsPort, child);
    } catch (err) {
      await terminate('SIGKILL');
      throw new Error(`${(err as Error).message}\nmosquitto stderr:\n${stderr || '(none)'}`, { cause: err });
    }
  };

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    const child = proc;
    proc = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
  };

  const onExit = (): void => {
    proc?.kill('SIGKILL');
  };
  process.once('exit', onExit);
  exitHooks.add(onExit);

  try {
    await launch();
  } catch (err) {
    process.off('exit', onExit);
    exitHooks.delete(onExit);
    dir.remove();
    throw err;
  }

  return {
    port,
    tlsPort,
    url: `mqtt://127.0.0.1:${port}`,
    tlsUrl: tlsPort ? `mqtts://127.0.0.1:${tlsPort}` : '',
    get running() {
      return proc !== undefined && proc.exitCode === null && proc.signalCode === null;
    },
    log: () => stderr,
    stop: () => terminate('SIGTERM'),
    kill: () => terminate('SIGKILL'),
    async restart() {
      await terminate('SIGTERM');
      await launch();
    },
    async close() {
      if (closed) return;
      closed = true;
      await terminate('SIGTERM');
      process.off('exit', onExit);
      exitHooks.delete(onExit);
      dir.remove();
    },
  };
}
