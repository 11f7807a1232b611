/**
 * Hostile-field review of the reload feature's guards: the replay guard of signed pushes
 * when the clock steps back or state.json is lost or corrupted, the root-run CLI's trust
 * in the agent-owned history directory (the pid file it signals, the rollback request it
 * writes), the size bound of a signed config, the keys that sign configs, and the modes
 * of the stored configs. How the reloader decides trials is in guard-trial.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { chownSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { configCommand, reloadCommand } from '../../src/cli/config-cmd.js';
import { Agent } from '../../src/agent.js';
import { EdgeError } from '../../src/core/errors.js';
import { silentLogger, type CommandChannel, type InboundMessage } from '../../src/core/ports.js';
import { openSignedEnvelope } from '../../src/ota/command.js';
import { keyIdOf } from '../../src/ota/manifest.js';
import type { Keyring } from '../../src/ota/verify.js';
import { ConfigHistory } from '../../src/reload/history.js';
import { loadStartupConfig, startReload } from '../../src/reload/runtime.js';
import { configHash } from '../../src/reload/validate.js';
import { PID_FILE, processStartTime, verifiedPid } from '../../src/reload/pidfile.js';
import { tempDir } from '../helpers/tmp.js';
import { config } from './guard-rig.js';

const d = tempDir();
after(() => d.remove());

async function storedHistory(dir: string): Promise<ConfigHistory> {
  const history = new ConfigHistory(dir, 10, () => 0);
  await history.activate({ hash: await history.store(config('a', dir)), at: 1, source: 'file' });
  return history;
}

describe('replay guard of signed config pushes', () => {
  it('an id pruned after it expired is still refused when the clock steps back', async () => {
    const history = await storedHistory(join(d.path, 'step'));
    assert.equal(await history.claimId('push-0000000A', 100_000, 50_000, 40_000), true);
    // a later push, accepted once A expired, prunes A's id
    assert.equal(await history.claimId('push-0000000B', 300_000, 200_000, 190_000), true);
    // the clock steps back into A's validity window: A is valid again by its window
    assert.equal(await history.claimId('push-0000000A', 100_000, 60_000, 40_000), false);
    assert.equal(await history.claimId('push-0000000C', 400_000, 210_000, 205_000), true, 'new ids pass');
  });

  it('a corrupted state.json does not forget the accepted ids', async () => {
    const dir = join(d.path, 'corrupt');
    const history = await storedHistory(dir);
    const issued = Date.now() - 10_000;
    assert.equal(await history.claimId('push-00000001', issued + 3_600_000, issued, issued), true);
    writeFileSync(join(dir, 'state.json'), '{"format":1,"entr');
    assert.equal(
      await history.claimId('push-00000001', issued + 3_600_000, issued + 5_000, issued),
      false,
      'a replay of a push accepted before the state broke',
    );
    const later = Date.now() + 1_000;
    assert.equal(await history.claimId('push-00000002', later + 3_600_000, later, later), true);
    assert.equal(await history.claimId('push-00000002', later + 3_600_000, later, later), false);
  });

  it('a deleted state.json does not forget the accepted ids: pushes issued before it went are refused', async () => {
    const dir = join(d.path, 'deleted');
    let now = Date.now();
    const issued = now + 5;
    const history = new ConfigHistory(dir, 10, () => now);
    await history.activate({ hash: await history.store(config('a', dir)), at: 1, source: 'file' });
    assert.equal(await history.claimId('push-00000001', issued + 600_000, now + 10, issued), true);
    rmSync(join(dir, 'state.json'));
    now = Date.now() + 1_000;
    assert.equal(
      await history.claimId('push-00000001', issued + 600_000, now, issued),
      false,
      'the replay of a push accepted before state.json was deleted',
    );
    assert.equal(
      await history.claimId('push-00000002', now + 600_000, now + 1, now + 1),
      true,
      'issued after',
    );
  });

  it('a fresh history refuses pushes issued before it was created (it cannot tell them from a loss)', async () => {
    const history = new ConfigHistory(join(d.path, 'fresh'), 10, () => 1_200);
    assert.equal(await history.claimId('push-00000001', 2_000, 1_500, 1_000), false);
    assert.equal(await history.claimId('push-00000002', 2_000, 1_500, 1_300), true);
  });
});

function sleeper(): ChildProcess {
  return spawn('sleep', ['60'], { stdio: 'ignore' });
}

/** The signal that ended `child` after we send SIGTERM: SIGHUP if one was pending before. */
async function endedBy(child: ChildProcess): Promise<NodeJS.Signals | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.signalCode;
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  child.kill('SIGTERM');
  const [, signal] = await exited;
  return signal;
}

describe('the CLI and the agent-owned history directory', () => {
  const options = (file: string): { config: string; json: boolean; timeoutMs: number } => ({
    config: file,
    json: false,
    timeoutMs: 200,
  });

  it('edge-agent reload does not signal a pid the pid file names without being that process', async () => {
    const dir = join(d.path, 'pid');
    mkdirSync(dir, { recursive: true });
    const file = join(d.path, 'pid.yaml');
    writeFileSync(file, config('a', dir));
    const child = sleeper();
    await once(child, 'spawn');
    const pid = child.pid!;
    // a stale file (pid reused after a crash) or one another user wrote: no start time
    writeFileSync(join(dir, PID_FILE), `${pid}\n`);
    const errors: string[] = [];
    const code = await reloadCommand(
      options(file),
      () => undefined,
      (l) => errors.push(l),
    );
    assert.equal(code, 2, errors.join('\n'));
    assert.equal(await endedBy(child), 'SIGTERM', 'the foreign process got no SIGHUP');
  });

  it('the pid file is trusted only for the process that wrote it, owned by its owner', async (t) => {
    const dir = join(d.path, 'pid2');
    mkdirSync(dir, { recursive: true });
    const pidFile = join(dir, PID_FILE);
    const child = sleeper();
    await once(child, 'spawn');
    t.after(() => child.kill('SIGKILL'));
    const pid = child.pid!;
    const started = processStartTime(pid);
    assert.ok(started);
    writeFileSync(pidFile, `${pid} ${started}\n`);
    assert.equal(verifiedPid(pidFile), pid);
    writeFileSync(pidFile, `${pid} ${Number(started) + 1}\n`);
    assert.equal(verifiedPid(pidFile), undefined, 'another start time: the pid was reused');
    writeFileSync(pidFile, `${pid} ${started}\n`);
    if (process.getuid?.() === 0) {
      chownSync(pidFile, 65534, 65534);
      assert.equal(verifiedPid(pidFile), undefined, 'a file of another user naming our process');
    } else t.diagnostic('not root: the owner check is not exercised');
  });

  it('config history reads a station whose 150 devices share one anchored tag list', async () => {
    const dir = join(d.path, 'anchors');
    await storedHistory(dir);
    const devices = Array.from(
      { length: 150 },
      (_, i) =>
        `  - { name: m${i}, driver: modbus, connection: { transport: tcp, host: 127.0.0.1, port: 502 }, tags: ${i === 0 ? '&tags [{ name: v, function: holding, address: 0, type: u16 }]' : '*tags'} }`,
    );
    const file = join(d.path, 'anchors.yaml');
    writeFileSync(file, `reload: { historyDir: ${JSON.stringify(dir)} }\ndevices:\n${devices.join('\n')}\n`);
    const out: string[] = [];
    const code = await configCommand(
      'history',
      [],
      { ...options(file), json: true },
      (l) => out.push(l),
      () => undefined,
    );
    assert.equal(code, 0);
    assert.equal((JSON.parse(out.join('')) as { entries: unknown[] }).entries.length, 1);
  });

  it('config rollback does not write through a link planted in the history directory', async () => {
    const dir = join(d.path, 'link');
    const history = await storedHistory(dir);
    await history.activate({ hash: await history.store(config('b', dir)), at: 2, source: 'reload' });
    const victim = join(d.path, 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(dir, 'rollback-request'));
    const file = join(d.path, 'link.yaml');
    writeFileSync(file, config('b', dir));
    const code = await configCommand(
      'rollback',
      [],
      options(file),
      () => undefined,
      () => undefined,
    );
    assert.equal(code, 2, 'no agent runs here');
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    assert.match(readFileSync(join(dir, 'rollback-request'), 'utf8'), /^[0-9a-f]{64}\n$/);
  });
});

describe('the size bound of a signed config', () => {
  const pair = generateKeyPairSync('ed25519');
  const keyring: Keyring = new Map([[keyIdOf(pair.publicKey), pair.publicKey]]);
  const envelope = (command: string): Buffer =>
    Buffer.from(
      JSON.stringify({
        command,
        keyId: keyIdOf(pair.publicKey),
        sig: sign(null, Buffer.from(command, 'utf8'), pair.privateKey).toString('base64'),
      }),
    );
  const refuse = (reason: string, message: string): EdgeError =>
    new EdgeError('EDGE_ERR_CONFIG_PUSH', `${reason}: ${message}`);
  const command = (config: string): string => JSON.stringify({ type: 'config-set', config });

  it('reload.maxBytes counts bytes, and every allowed size up to its 4 MiB maximum passes', () => {
    const big = command('x'.repeat(2 * 1024 * 1024));
    assert.doesNotThrow(() => openSignedEnvelope(envelope(big), keyring, 'config push', refuse, 4_194_304));
    // 100 000 two-byte characters: 200 000 bytes, over a 150 000-byte bound
    const wide = command('é'.repeat(100_000));
    assert.throws(
      () => openSignedEnvelope(envelope(wide), keyring, 'config push', refuse, 150_000),
      /unsigned/,
    );
  });
});

describe('the keys that sign configs', () => {
  it('come from the local file: a pushed config cannot change them', async (t) => {
    const dir = join(d.path, 'keys');
    const historyDir = join(dir, 'history');
    mkdirSync(dir, { recursive: true });
    const pair = (name: string): { privateKey: KeyObject; keyId: string; pem: string } => {
      const p = generateKeyPairSync('ed25519');
      const pem = join(dir, `${name}.pem`);
      writeFileSync(pem, p.publicKey.export({ format: 'pem', type: 'spki' }));
      return { privateKey: p.privateKey, keyId: keyIdOf(p.publicKey), pem };
    };
    const [operator, other] = [pair('operator'), pair('other')];
    const text = (keys: string, devices: string[]): string =>
      stringify({
        agent: { id: 'gw', site: 'keys' },
        store: { path: join(dir, 'outbox.db') },
        http: { enabled: false },
        ota: { commandPublicKeys: [keys] },
        reload: { historyDir, commands: true },
        devices: devices.map((n) => ({
          name: n,
          driver: 'modbus',
          connection: { transport: 'tcp', host: '127.0.0.1', port: 1 },
          tags: [{ name: 't0', function: 'holding', address: 0, type: 'u16' }],
        })),
      });
    const file = join(dir, 'config.yaml');
    const local = text(operator.pem, ['a']);
    writeFileSync(file, local);
    // Active: a config pushed earlier that names another key for OTA commands.
    const history = new ConfigHistory(historyDir);
    const pushed = text(other.pem, ['a']);
    await history.activate({
      hash: await history.store(pushed),
      at: 1,
      source: 'push',
      fileHash: configHash(local),
    });
    const startup = loadStartupConfig(file);
    assert.equal(startup.text, pushed);
    const handlers = new Map<string, (m: InboundMessage) => void>();
    const channel: CommandChannel = {
      subscribe: (suffix, handler) => (handlers.set(suffix, handler), () => handlers.delete(suffix)),
      publish: () => Promise.resolve(),
    };
    const agent = new Agent({ config: startup.config, logger: silentLogger, commandChannel: channel });
    await agent.start();
    const rt = await startReload({ agent, file, startup, logger: silentLogger, restart: () => undefined });
    t.after(async () => {
      await rt.stop();
      await agent.stop();
    });
    const push = async (key: typeof operator, id: string): Promise<string | undefined> => {
      const now = Date.now();
      const command = JSON.stringify({
        type: 'config-set',
        id,
        site: 'keys',
        // After the replay guard the agent created at its start (same millisecond possible).
        issuedAt: now + 1000,
        expiresAt: now + 60_000,
        config: text(operator.pem, ['a', id]),
      });
      const sig = sign(null, Buffer.from(command), key.privateKey).toString('base64');
      const payload = Buffer.from(JSON.stringify({ command, keyId: key.keyId, sig }));
      handlers.get('agent/config/set')?.({ topic: 'edge/keys/agent/config/set', payload });
      await rt.remote?.whenIdle();
      const last = history.readSync().last;
      return `${last?.status} ${last?.reason ?? ''}`;
    };
    assert.match((await push(other, 'push-other-1')) ?? '', /^refused unknown-key/);
    assert.match((await push(operator, 'push-operator-1')) ?? '', /^applied/);
  });
});

describe('the stored configs', () => {
  it('are not readable by other users (a config may hold an inline secret)', async () => {
    const dir = join(d.path, 'modes');
    const history = new ConfigHistory(dir);
    const hash = await history.store('mqtt:\n  password: inline-secret\n');
    await history.activate({ hash, at: 1, source: 'file' });
    for (const file of [history.configFile(hash), join(dir, 'state.json')])
      assert.equal(statSync(file).mode & 0o007, 0, `${file} is not world-readable`);
  });
});
