/**
 * A real unix datagram notify socket (python3, since Node has none) standing in for
 * systemd: NOTIFY_SOCKET=<path> makes systemd-notify deliver to it. `messages()` are the
 * datagrams received (barrier messages left out), with receive times in seconds.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PYTHON } from './pymodbus.js';
import { tempDir } from './tmp.js';
import { waitFor } from './wait.js';

export interface NotifyMessage {
  readonly t: number;
  readonly msg: string;
}

export interface FakeNotifySocket {
  readonly path: string;
  messages(): NotifyMessage[];
  /** Received datagrams carrying a BARRIER=1 (what systemd-notify waits on). */
  barriers(): number;
  close(): Promise<void>;
}

export async function startFakeNotifySocket(): Promise<FakeNotifySocket> {
  const dir = tempDir('edge-agent-notify-');
  const path = join(dir.path, 'notify.sock');
  const child = spawn(PYTHON, [join(process.cwd(), 'test/helpers/fake_notify_socket.py'), path], {
    // stdin is a pipe we never write: it closes when this process ends, and the helper exits.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  const received: NotifyMessage[] = [];
  let listening = false;
  let barriers = 0;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const m = JSON.parse(line) as NotifyMessage;
    if (m.msg === 'LISTENING') listening = true;
    else if (m.msg === 'BARRIER=1') barriers++;
    else received.push(m);
  });
  const exited = new Promise((r) => child.once('exit', r));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    dir.remove();
  };
  try {
    await waitFor('fake notify socket listening', () => listening || child.exitCode !== null);
    if (!listening) throw new Error(`fake notify socket exited (${child.exitCode})`);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\nstderr:\n${stderr || '(none)'}`, { cause: err });
  }
  return {
    path,
    messages: () => [...received],
    barriers: () => barriers,
    close: stop,
  };
}
