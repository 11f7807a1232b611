/**
 * What the pile simulator does with an AUTH_FAIL, against a stub gateway (TLS 1.3, the test
 * PKI's server chain) that answers every connection's first bytes with one. A reload
 * restarts the gateway and refuses a handshake in progress with `shutting-down`, as it
 * does an open session (docs/remote-config.md): that is "not now", and the pile reconnects
 * (test/reload/cip22-live.test.ts once failed when a pile gave up on it). A refusal of the
 * pile itself (`bad-certificate`) ends its attempts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { test } from 'node:test';
import { createServer } from 'node:tls';
import { CIP22_REASONS, encodeFrame, encodeMessage } from '../../src/cip22/codec/index.js';
import { parsePileSimArgs } from '../../src/tools/pile-sim/args.js';
import {
  reconnectDelayMs,
  refusalIsFinal,
  runPileSim,
  type PileSimSummary,
} from '../../src/tools/pile-sim/runner.js';
import { cip22Pki } from '../helpers/cip22-pki.js';
import { tempDir } from '../helpers/tmp.js';
import { pileSimArgs, serverChainPem } from './gateway-proc.js';

type Reason = keyof typeof CIP22_REASONS;

/** Runs the two test piles against a stub that refuses every handshake with `reason`. */
async function againstRefusals(
  reason: Reason,
  enough: (connections: number, errLines: readonly string[]) => boolean,
): Promise<{ summary: PileSimSummary; connections: number; errLines: string[] }> {
  const pki = cip22Pki();
  const dir = tempDir('edge-agent-pile-refusal-');
  const msg = encodeMessage({ type: 'AUTH_FAIL', reason: CIP22_REASONS[reason], text: reason });
  const refusal = encodeFrame(msg.type, msg.payload);
  const sockets = new Set<Socket>();
  let connections = 0;
  const errLines: string[] = [];
  let done: () => void = () => undefined;
  const stop = new Promise<void>((resolve) => (done = resolve));
  const check = (): void => void (enough(connections, errLines) && done());
  const server = createServer(
    {
      cert: readFileSync(serverChainPem(dir.path)),
      key: readFileSync(pki.p256.server.keyPem),
      minVersion: 'TLSv1.3',
    },
    (socket) => {
      connections++;
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end(refusal));
      check();
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    // STATUS every minute: none is sent, so nothing waits for an ACK at the end
    const args = parsePileSimArgs(pileSimArgs(dir.path, port, 60_000).slice(1));
    const summary = await runPileSim(
      args,
      (line) => {
        errLines.push(line);
        check();
      },
      stop,
    );
    return { summary, connections, errLines };
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
    dir.remove();
  }
}

test('pile-sim-auth-fail-shutting-down-reconnects: a handshake refused by a stopping gateway is tried again', async () => {
  const { summary, connections, errLines } = await againstRefusals('shutting-down', (n) => n >= 4);
  assert.equal(summary.refused, 0, errLines.join('\n'));
  assert.ok(summary.reconnects >= 2, `each pile reconnected: ${JSON.stringify(summary)}`);
  assert.ok(connections >= 4);
  assert.ok(
    errLines.some((l) => /AUTH_FAIL 514: shutting-down; reconnecting/.test(l)),
    errLines.join('\n'),
  );
});

test('pile-sim-auth-fail-bad-certificate-final: a pile refused for its identity stops trying', async () => {
  const refusedLines = (lines: readonly string[]): number => lines.filter((l) => / refused: /.test(l)).length;
  const { summary, connections, errLines } = await againstRefusals(
    'bad-certificate',
    (_n, lines) => refusedLines(lines) === 2,
  );
  assert.equal(summary.refused, 2, errLines.join('\n'));
  assert.equal(summary.reconnects, 0);
  assert.equal(connections, 2);
});

test('pile-sim-auth-fail-rate-limited-backs-off: a pile refused by the handshake rate limit tries again later', async () => {
  const { summary, connections, errLines } = await againstRefusals('rate-limited', (n) => n >= 4);
  assert.equal(summary.refused, 0, errLines.join('\n'));
  assert.ok(connections >= 4);
  assert.ok(
    errLines.some((l) => /AUTH_FAIL 268: rate-limited; reconnecting/.test(l)),
    errLines.join('\n'),
  );
});

test('refusalIsFinal: gateway-side reasons and limits are retried, a refusal of the pile is final', () => {
  for (const r of [
    'shutting-down',
    'internal-error',
    'storage-unavailable',
    'rate-limited',
    'too-many-sessions',
    'handshake-timeout',
  ] as const)
    assert.equal(refusalIsFinal(CIP22_REASONS[r]), false, r);
  for (const r of [
    'bad-certificate',
    'wrong-issuer',
    'unknown-device',
    'bad-signature',
    'cn-mismatch',
  ] as const)
    assert.equal(refusalIsFinal(CIP22_REASONS[r]), true, r);
  assert.equal(refusalIsFinal(0x7777), true, 'an unknown reason');
});

test('reconnectDelayMs: 1 s after a drop or a gateway fault, doubling with jitter up to 60 s at a limit', () => {
  const limited = CIP22_REASONS['rate-limited'];
  assert.equal(
    reconnectDelayMs(undefined, 5, () => 0),
    1000,
    'a dropped connection',
  );
  assert.equal(
    reconnectDelayMs(CIP22_REASONS['shutting-down'], 5, () => 0),
    1000,
  );
  assert.deepEqual(
    [1, 2, 3, 4, 7, 20].map((n) => reconnectDelayMs(limited, n, () => 1)),
    [1000, 2000, 4000, 8000, 60_000, 60_000],
  );
  assert.equal(
    reconnectDelayMs(limited, 3, () => 0),
    2000,
    'jitter takes at most half',
  );
});
