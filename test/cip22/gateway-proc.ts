/** The gateway in a child process (fixtures/gateway-proc.ts) with a real SqliteOutbox: start, port, exit. */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cip22Pki } from '../helpers/cip22-pki.js';

const FIXTURE = new URL('./fixtures/gateway-proc.js', import.meta.url).pathname;

export interface GatewayProc {
  readonly child: ChildProcess;
  readonly port: number;
  /** Resolves with the exit signal or code. */
  readonly exited: Promise<string>;
}

/** Starts fixtures/gateway-proc.js on `store`; resolves once it prints its port. */
export async function startGatewayProc(
  store: string,
  chainPem: string,
  overrides: Record<string, unknown> = {},
): Promise<GatewayProc> {
  const pki = cip22Pki();
  const args = {
    store,
    cert: chainPem,
    key: pki.p256.server.keyPem,
    roots: [pki.sm2.root.certPem, pki.p256.root.certPem],
    overrides,
  };
  const child = spawn(process.execPath, [FIXTURE, JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? String(code))),
  );
  let out = '';
  let err = '';
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    void exited.then((how) => reject(new Error(`gateway process exited (${how}) before listening: ${err}`)));
  });
  return { child, port, exited };
}

/** The server chain (leaf + issuing CA) as one PEM file in `dir`. */
export function serverChainPem(dir: string): string {
  const pki = cip22Pki();
  const path = join(dir, 'server-chain.pem');
  writeFileSync(
    path,
    Buffer.concat([readFileSync(pki.p256.server.certPem), readFileSync(pki.p256.issuing.certPem)]),
  );
  return path;
}

/**
 * `edge-agent pile-sim` arguments for the SM2 and the P-256 test pile (their cert, key and
 * issuer copied to `dir`/piles) against a gateway on `port`, a status every `statusMs`.
 */
export function pileSimArgs(dir: string, port: number, statusMs: number): string[] {
  const pki = cip22Pki();
  const piles = join(dir, 'piles');
  mkdirSync(piles);
  for (const [name, m] of [
    ['a-sm2', pki.sm2],
    ['b-p256', pki.p256],
  ] as const) {
    copyFileSync(m.pile.certPem, join(piles, `${name}.pem`));
    copyFileSync(m.pile.keyPem, join(piles, `${name}.key.pem`));
    copyFileSync(m.issuing.certPem, join(piles, `${name}.issuer.pem`));
  }
  const args = ['pile-sim', '--port', String(port), '--ca', pki.p256.root.certPem, '--piles', piles];
  return [...args, '--count', '2', '--status-ms', String(statusMs)];
}
