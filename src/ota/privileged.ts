/**
 * The privileged step of the split (docs/security.md): `edge-agent ota serve-requests`,
 * run as root by edge-agent-ota.service when the agent drops a request (edge-agent-ota.path)
 * and at boot. It finishes an update a power cut interrupted, then handles each new request:
 * an apply copies the agent's bundle into root's own directory first (the agent can change
 * nothing root then reads), and the engine re-verifies the signed manifest with root's
 * pinned keys before it unpacks and switches. `force` counts only when the signed command
 * that carried it verifies again here and pins this very bundle.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Clock } from '../core/clock.js';
import { EdgeError, toEdgeError } from '../core/errors.js';
import type { Logger } from '../core/ports.js';
import type { OtaConfig } from '../config/sections/ota.js';
import { verifyCommand } from './command.js';
import type { OtaEngine } from './engine.js';
import { fsyncDir } from './fs-sync.js';
import { listRequests, openAgentFile, readRequest, requestsDir, type OtaRequest } from './requests.js';
import { loadKeyring } from './verify.js';

export interface PrivilegedOptions {
  readonly engine: OtaEngine;
  readonly config: OtaConfig;
  readonly site: string;
  readonly agentId: string;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface ServeResult {
  readonly handled: number;
  readonly failed: number;
}

export async function serveRequests(options: PrivilegedOptions): Promise<ServeResult> {
  const { engine, logger } = options;
  await engine
    .resume()
    .catch((error: unknown) =>
      logger.error({ err: (error as Error).message }, 'interrupted update could not be finished'),
    );
  const dataDir = resolve(options.config.dataDir);
  const stateDir = resolve(options.config.stateDir);
  if (stateDir === dataDir || stateDir.startsWith(`${dataDir}/`) || dataDir.startsWith(`${stateDir}/`))
    throw new EdgeError(
      'EDGE_ERR_OTA_STATE',
      `ota.stateDir (${stateDir}) and ota.dataDir (${dataDir}) must be apart: root never writes where the agent does`,
    );
  // lstat, never stat: whatever the agent put there, its owner is the agent's uid.
  const owner = await lstat(dataDir).catch(() => null);
  if (owner === null) return { handled: 0, failed: 0 };
  let handled = 0;
  let failed = 0;
  // Listed again until none is new: a .path unit does not fire for a request written while
  // this step runs (e.g. by the agent it just restarted).
  // Bounded: an agent writing requests without end must not keep root busy for ever.
  for (let round = 0; round < 20; round++) {
    const pending = await listRequests(requestsDir(dataDir), (await engine.readState()).requestsDone ?? 0);
    if (pending.length === 0) break;
    const result = await handleAll(pending, owner.uid, options);
    handled += result.handled;
    failed += result.failed;
  }
  return { handled, failed };
}

async function handleAll(
  pending: readonly { seq: number; file: string }[],
  uid: number,
  options: PrivilegedOptions,
): Promise<ServeResult> {
  const { engine, logger } = options;
  let handled = 0;
  let failed = 0;
  for (const { seq, file } of pending) {
    try {
      await handle(await readRequest(file, uid), uid, options);
    } catch (error) {
      failed++;
      const byEngine = error instanceof EngineOutcome;
      const e = toEdgeError(byEngine ? error.cause : error, 'EDGE_ERR_OTA_STATE');
      logger.error({ code: e.code, seq }, `update request ${seq} refused: ${e.message}`);
      // The engine records its own failures (staging-failed) and must not have a harmless
      // repeat (a request handled again after a power cut) recorded as a failed update.
      if (!byEngine) await engine.recordRefusal(e.code, e.message).catch(() => undefined);
    }
    // Handled or refused, never again: a bad request must not be retried at every trigger.
    await engine.requestDone(seq);
    handled++;
  }
  return { handled, failed };
}

/** An engine operation's refusal: already in the state, or a state-machine no-op. */
class EngineOutcome extends Error {
  constructor(override readonly cause: unknown) {
    super('engine');
  }
}

async function engineStep(step: () => Promise<unknown>): Promise<void> {
  try {
    await step();
  } catch (error) {
    throw new EngineOutcome(error);
  }
}

async function handle(request: OtaRequest, uid: number, options: PrivilegedOptions): Promise<void> {
  const { engine } = options;
  switch (request.op) {
    case 'apply': {
      const force = request.force ? await authoriseForce(request, options) : false;
      const copy = join(engine.store.downloadsDir, `${request.sha256}.bundle`);
      await engine.store.ensure();
      try {
        await copyAgentFile(
          join(resolve(options.config.dataDir), 'downloads', request.bundle),
          uid,
          copy,
          options.config.maxBundleBytes,
          request.sha256,
        );
        await engineStep(() =>
          engine.apply({
            source: copy,
            origin: 'cli',
            force,
            sha256: request.sha256,
            commandId: request.commandId,
          }),
        );
      } finally {
        await rm(copy, { force: true });
      }
      return;
    }
    case 'healthy':
      return engineStep(() => engine.healthy(request.version));
    case 'trial-timeout':
      return engineStep(() => engine.trialTimeout(request.version));
    case 'events-emitted': {
      // Only the events the agent saw: a second request for the same ones drops nothing newer.
      const last = (await engine.readState()).events.at(request.count - 1);
      if (last?.ts !== request.lastTs || last.type !== request.lastType) return;
      return engineStep(() => engine.eventsEmitted(request.count));
    }
  }
}

/** The agent's word is not enough to lift the downgrade check: the signed command must say so. */
async function authoriseForce(
  request: Extract<OtaRequest, { op: 'apply' }>,
  options: PrivilegedOptions,
): Promise<boolean> {
  const refuse = (why: string): EdgeError =>
    new EdgeError('EDGE_ERR_OTA_COMMAND', `force refused: ${why}`, { context: { reason: 'force' } });
  if (request.command === undefined) throw refuse('no signed command carries it');
  const { config } = options;
  const cmd = verifyCommand(Buffer.from(request.command, 'utf8'), {
    keyring: loadKeyring(config.commandPublicKeys ?? config.publicKeys),
    site: options.site,
    agentId: options.agentId,
    now: options.clock.now(),
    maxTtlMs: config.commandMaxTtlSec * 1000,
    clockSkewMs: config.clockSkewSec * 1000,
  });
  if (cmd.force !== true || cmd.sha256 !== request.sha256 || cmd.id !== request.commandId)
    throw refuse(`command ${cmd.id} does not force this bundle`);
  const verdict = await options.engine.recordCommand(cmd);
  if (verdict !== true) throw refuse(`command ${cmd.id} ${verdict}`);
  return true;
}

/** Copies an agent-owned file into root's directory, checking the hash of what was copied. */
async function copyAgentFile(
  src: string,
  uid: number,
  dest: string,
  maxBytes: number,
  sha256: string,
): Promise<void> {
  const input = await openAgentFile(src, uid, maxBytes);
  const output = await open(
    dest,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    0o600,
  );
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of input.createReadStream({ autoClose: false })) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) throw new EdgeError('EDGE_ERR_OTA_BUNDLE', `${src} grew beyond ${maxBytes} bytes`);
      hash.update(chunk as Buffer);
      await output.write(chunk as Buffer);
    }
    await output.sync();
  } finally {
    await output.close();
    await input.close();
  }
  // The staging state names this copy: its directory entry must survive a power cut too.
  await fsyncDir(dirname(dest));
  const digest = hash.digest('hex');
  if (digest !== sha256)
    throw new EdgeError(
      'EDGE_ERR_OTA_HASH',
      `the requested bundle's sha256 ${digest.slice(0, 12)}… is not the one asked for`,
    );
}
