/**
 * A real OPC UA peer for tests: a node-opcua server in a child process
 * (opcua_server.ts) on an ephemeral loopback port, its PKI in a temp dir. `kill()` is a
 * crash (SIGKILL), `restart()` starts it again on the same port with the same certificate
 * (optionally updated: other variables or limits).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { opcuaDeviceSchema, type OpcuaDeviceConfig } from '../../src/drivers/opcua/config.js';
import { freePort } from './net.js';
import type { ServerOptions, ServerVariable } from './opcua_server.js';
import { tempDir } from './tmp.js';

export type { ServerVariable } from './opcua_server.js';

const MARK = '@edge ';
const CHILD = fileURLToPath(new URL('./opcua_server.js', import.meta.url));

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export class TestOpcuaServer {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  endpoint = '';
  certSha256 = '';

  private constructor(
    private options: ServerOptions,
    private readonly pki: { path: string; remove: () => void },
  ) {}

  static async start(
    variables: readonly ServerVariable[],
    extra: {
      users?: Record<string, string>;
      allowAnonymous?: boolean;
      maxMonitoredItemsPerSubscription?: number;
    } = {},
  ): Promise<TestOpcuaServer> {
    const pki = tempDir('edge-opcua-server-');
    const server = new TestOpcuaServer(
      { port: await freePort(), pkiDir: pki.path, variables, ...extra },
      pki,
    );
    await server.spawn();
    return server;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  private spawn(): Promise<void> {
    const child = spawn(process.execPath, [CHILD, JSON.stringify(this.options)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    return new Promise((resolve, reject) => {
      let ready = false;
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        for (const p of this.pending.values()) p.reject(new Error('opcua server exited'));
        this.pending.clear();
        if (!ready) reject(new Error(`opcua server exited (${code ?? signal}) before listening: ${stderr}`));
      });
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (!line.startsWith(MARK)) return;
        const message = JSON.parse(line.slice(MARK.length)) as {
          id?: number;
          result?: unknown;
          error?: string;
          endpoint?: string;
          certSha256?: string;
        };
        if (!ready && message.endpoint) {
          ready = true;
          this.endpoint = message.endpoint;
          this.certSha256 = message.certSha256 ?? '';
          resolve();
          return;
        }
        const p = message.id === undefined ? undefined : this.pending.get(message.id);
        if (!p || message.id === undefined) return;
        this.pending.delete(message.id);
        if (message.error) p.reject(new Error(message.error));
        else p.resolve(message.result);
      });
    });
  }

  private command(op: string, fields: Record<string, unknown>): Promise<unknown> {
    const child = this.child;
    if (!child?.stdin) return Promise.reject(new Error('opcua server is not running'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      child.stdin!.write(`${JSON.stringify({ id, op, ...fields })}\n`);
    });
  }

  async set(name: string, value: number | boolean | string): Promise<void> {
    await this.command('set', { name, value });
  }

  /** Sets the variable's status code (its value unchanged), e.g. 'BadSensorFailure'. */
  async status(name: string, status: string): Promise<void> {
    await this.command('status', { name, status });
  }

  /** Adds a variable to the running server (a node the client may have been refused before). */
  async add(variable: ServerVariable): Promise<void> {
    await this.command('add', { name: variable.name, variable });
  }

  get(name: string): Promise<unknown> {
    return this.command('get', { name });
  }

  /** A crash: SIGKILL, resolved once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGCONT');
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }

  /** A hung server (or a pulled cable): SIGSTOP, its sockets stay open and silent. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /**
   * Starts it again on the same port with the same certificate; `changes` is a server
   * update (variables of another DataType, tighter limits) made while it was down.
   */
  async restart(changes: Partial<Omit<ServerOptions, 'port' | 'pkiDir'>> = {}): Promise<void> {
    await this.kill();
    this.options = { ...this.options, ...changes };
    await this.spawn();
  }

  async stop(): Promise<void> {
    await this.kill();
    this.pki.remove();
  }
}

/**
 * A device config against a test server: 50 ms intervals, reconnects within 50–400 ms,
 * Int32 tags `ns=1;s=<name>`; `extra` overrides any field.
 */
export function testDeviceConfig(
  endpoint: string,
  pkiDir: string,
  tags: readonly string[],
  extra: Record<string, unknown> = {},
): OpcuaDeviceConfig {
  return opcuaDeviceSchema.parse({
    name: 'ua',
    driver: 'opcua',
    endpoint,
    pkiDir,
    intervalMs: 50,
    subscription: { publishingIntervalMs: 50 },
    reconnect: { initialMs: 50, maxMs: 400, jitter: 0 },
    connectTimeoutMs: 20_000,
    tags: tags.map((n) => ({ name: n, nodeId: `ns=1;s=${n}`, dataType: 'Int32' })),
    ...extra,
  });
}
