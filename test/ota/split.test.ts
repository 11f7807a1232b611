/**
 * OTA under the root/agent split (issue 12 items 1 and 8), as root with a real unprivileged
 * agent uid: the agent's half (OtaRequester) runs in a child as uid 4242 and can only drop
 * requests in its staging area; the privileged step (serveRequests, root) re-verifies and
 * does the rest. Each attack the agent could mount through a request is refused.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createHash, sign } from 'node:crypto';
import { chmodSync, lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { OtaConfig } from '../../src/config/sections/ota.js';
import { agentArgv, asAgent, needsRoot } from '../helpers/agent-uid.js';
import { createTestCerts } from '../helpers/certs.js';
import { rangeServer } from '../helpers/range-server.js';
import { tempDir } from '../helpers/tmp.js';
import { splitMachine, type SplitMachine } from './split-machine.js';
import { bootableVersion, buildBundle, makeKey, type TestKey } from './helpers.js';

function signedForce(key: TestKey, sha256: string): string {
  // Issued after root's replay guard was created, even within the same millisecond.
  const now = Date.now() + 1;
  const text = JSON.stringify({
    type: 'ota-apply',
    id: 'cmd-force-01',
    site: 'site-1',
    url: 'https://updates.example/b.tar.gz',
    sha256,
    force: true,
    issuedAt: now,
    expiresAt: now + 3_600_000,
  });
  return JSON.stringify({
    command: text,
    keyId: key.keyId,
    sig: sign(null, Buffer.from(text), key.privateKey).toString('base64'),
  });
}

const sha256Of = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('OTA under the root/agent split', { skip: needsRoot }, () => {
  const tmp = tempDir('edge-ota-split-');
  chmodSync(tmp.path, 0o755);
  const key = makeKey(tmp.path);
  const v11 = buildBundle(tmp.path, { version: '1.1.0', key, minPreviousVersion: '1.0.0' });
  let n = 0;
  const machine = (overrides: Partial<OtaConfig> = {}): SplitMachine =>
    splitMachine(join(tmp.path, `m${++n}`), key, overrides);

  it('good update: the agent uid asks, root verifies, unpacks, switches; the agent asks to commit; root commits and raises the floor', async () => {
    const m = machine();
    const asked = m.agent('apply', v11);
    assert.equal(asked.code, 0, asked.out);
    assert.match(asked.out, /requested 1\.1\.0/);
    assert.equal(
      readlinkSync(join(m.config.root, 'current')),
      'releases/1.0.0',
      'the agent switched nothing',
    );
    assert.deepEqual(await m.serve(), { handled: 1, failed: 0 });
    assert.equal(bootableVersion(m.config), '1.1.0');
    assert.equal(
      lstatSync(join(m.config.root, 'releases/1.1.0/dist/src/cli/main.js')).uid,
      0,
      'root-owned release',
    );
    assert.deepEqual(m.restarts, ['switched to 1.1.0']);
    await m.engine.bootCheck();
    const healthy = m.agent('healthy', '1.1.0');
    assert.equal(healthy.code, 0, healthy.out);
    await m.serve();
    const status = await m.engine.status();
    assert.equal(status.state.last?.outcome, 'committed');
    assert.equal(status.floor, '1.0.0', "the floor rose to 1.1.0's minPreviousVersion");
    assert.equal(lstatSync(join(m.config.stateDir, 'floor')).uid, 0);
    // The agent restarts twice before root handles its "emitted" request: the repeat must
    // not drop an event root added meanwhile.
    assert.match(m.agent('emit').out, /^ota-committed$/m);
    assert.match(m.agent('emit').out, /^ota-committed$/m);
    await m.engine.recordRefusal('EDGE_ERR_OTA_SOURCE', 'a newer event');
    await m.serve();
    assert.deepEqual(
      (await m.engine.status()).state.events.map((e) => e.type),
      ['ota-failed'],
      'the emitted event is gone, the newer one kept',
    );
  });

  it('a request the restarted agent writes while the root step still runs is handled in the same run', async () => {
    // systemd's PathChanged= does not fire again for a change made while the unit is active.
    const m = splitMachine(join(tmp.path, `m${++n}`), key, {}, (self) => {
      assert.equal(self.agent('healthy', '1.1.0').code, 0);
    });
    m.agent('apply', v11);
    assert.deepEqual(await m.serve(), { handled: 2, failed: 0 });
    assert.equal((await m.engine.status()).state.last?.outcome, 'committed');
  });

  it('the CLI entry of the root step: edge-agent ota serve-requests (what edge-agent-ota.service runs)', () => {
    const m = machine();
    m.agent('apply', v11);
    const configFile = join(m.config.root, '..', 'config.yaml');
    writeFileSync(
      configFile,
      stringify({
        agent: { id: 'agent-1', site: 'site-1' },
        store: { path: join(m.config.dataDir, 'outbox.db') },
        ota: {
          root: m.config.root,
          dataDir: m.config.dataDir,
          stateDir: m.config.stateDir,
          publicKeys: m.config.publicKeys,
        },
      }),
    );
    const cli = (...args: string[]) =>
      spawnSync(
        process.execPath,
        ['dist/src/cli/main.js', 'ota', ...args, '--config', configFile, '--no-restart'],
        {
          encoding: 'utf8',
        },
      );
    const served = cli('serve-requests');
    assert.match(served.stdout, /1 handled, 0 refused/, served.stderr);
    assert.equal(bootableVersion(m.config), '1.1.0');
    assert.match(cli('status').stdout, /phase: +trial \(1\.1\.0/);
  });

  it('resume under the split: the agent (uid 4242) killed mid-download fetches only the rest at its next start', async () => {
    const certs = createTestCerts();
    chmodSync(certs.dir, 0o755);
    const body = readFileSync(buildBundle(tmp.path, { version: '1.1.0', key, extraBytes: 400_000 }));
    const ranges: string[] = [];
    const server = rangeServer(certs, body, ranges);

    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/b.tar.gz`;
      const m = machine({ tls: { ca: certs.ca } });
      const runAgent = async (env: Record<string, string>, ...args: string[]) => {
        const child = spawn('setpriv', agentArgv(m.agentCommand(...args)), {
          env: { ...process.env, ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
        return { code, signal, out };
      };
      const killed = await runAgent({ CRASH_AT: 'download:chunk' }, 'apply', url);
      assert.equal(killed.signal, 'SIGKILL', killed.out);
      const resumed = await runAgent({}, 'resume');
      assert.match(resumed.out, /resumed 1\.1\.0/);
      assert.equal(ranges.length, 1, 'the rest only, with Range');
      await m.serve();
      assert.equal(bootableVersion(m.config), '1.1.0');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      certs.remove();
    }
  });

  it('a trial that never turns healthy: the agent asks, root rolls back and restarts', async () => {
    const m = machine();
    m.agent('apply', v11);
    await m.serve();
    await m.engine.bootCheck();
    assert.equal(m.agent('trial-timeout', '1.1.0').code, 0);
    await m.serve();
    assert.equal(bootableVersion(m.config), '1.0.0');
    assert.equal((await m.engine.status()).state.last?.reason, 'health-timeout');
    assert.deepEqual(m.restarts, ['switched to 1.1.0', 'rolled back to 1.0.0 (health-timeout)']);
  });

  it('a crash-looping trial is rolled back by boot-check (root, ExecStartPre)', async () => {
    const m = machine();
    m.agent('apply', v11);
    await m.serve();
    for (let i = 0; i <= m.config.maxTrialBoots; i++) await m.engine.bootCheck();
    assert.equal(bootableVersion(m.config), '1.0.0');
    assert.equal((await m.engine.status()).state.last?.reason, 'crash-loop');
  });

  it('attack: a request that is a symlink to a root-only file is refused unread', async () => {
    const m = machine();
    const secret = join(tmp.path, 'shadow');
    writeFileSync(secret, '{"op":"healthy","version":"SECRET"}', { mode: 0o600 });
    const requests = join(m.config.dataDir, 'requests');
    assert.equal(asAgent(['mkdir', requests]).code, 0);
    assert.equal(asAgent(['ln', '-s', secret, join(requests, '000000000001.json')]).code, 0);
    assert.deepEqual(await m.serve(), { handled: 1, failed: 1 });
    const state = readFileSync(join(m.config.stateDir, 'state.json'), 'utf8');
    assert.match(state, /a symbolic link, refused/);
    assert.doesNotMatch(state, /SECRET/);
  });

  it("attack: a request naming a bundle that is a link to root's file is refused", async () => {
    const m = machine();
    const rootBundle = join(tmp.path, 'root-only.bundle');
    writeFileSync(rootBundle, readFileSync(v11), { mode: 0o600 });
    const downloads = join(m.config.dataDir, 'downloads');
    const name = `${sha256Of(v11)}.bundle`;
    asAgent(['mkdir', '-p', downloads, join(m.config.dataDir, 'requests')]);
    asAgent(['ln', '-s', rootBundle, join(downloads, name)]);
    const request = JSON.stringify({ op: 'apply', bundle: name, sha256: sha256Of(v11), force: false });
    asAgent([
      'sh',
      '-c',
      `printf '%s' '${request}' > ${join(m.config.dataDir, 'requests/000000000001.json')}`,
    ]);
    assert.deepEqual(await m.serve(), { handled: 1, failed: 1 });
    assert.equal(bootableVersion(m.config), '1.0.0');
    assert.match((await m.engine.status()).state.last?.reason ?? '', /symbolic link, refused/);
  });

  it('attack: a bundle whose release differs from its signed manifest is refused by root', async () => {
    const m = machine();
    const tampered = buildBundle(tmp.path, {
      version: '1.1.0',
      key,
      mutate: (e) =>
        e.map((x) =>
          x.path === 'release/dist/src/cli/main.js' ? { ...x, body: Buffer.from('evil()\n') } : x,
        ),
    });
    assert.equal(m.agent('apply', tampered).code, 0, 'the head (signature) alone passes on the agent side');
    assert.deepEqual(await m.serve(), { handled: 1, failed: 1 });
    assert.equal(bootableVersion(m.config), '1.0.0');
    assert.equal((await m.engine.status()).state.last?.code, 'EDGE_ERR_OTA_HASH');
  });

  it('force: refused from the agent alone, honoured with the signed command, never below the floor', async () => {
    const older = buildBundle(tmp.path, { version: '0.9.0', key });
    const alone = machine();
    assert.equal(alone.agent('apply', older, sha256Of(older), 'force').code, 0);
    await alone.serve();
    assert.equal(bootableVersion(alone.config), '1.0.0');
    assert.match((await alone.engine.status()).state.last?.reason ?? '', /force refused: no signed command/);

    const signed = machine();
    // The station started once (boot-check): root's replay guard predates the command.
    await signed.engine.bootCheck();
    const commandFile = join(tmp.path, 'force.json');
    writeFileSync(commandFile, signedForce(key, sha256Of(older)));
    assert.equal(signed.agent('apply', older, sha256Of(older), 'force', commandFile).code, 0);
    await signed.serve();
    assert.equal(bootableVersion(signed.config), '0.9.0', 'a signed force downgrades');

    const floored = machine();
    floored.agent('apply', v11);
    await floored.serve();
    await floored.engine.bootCheck();
    floored.agent('healthy', '1.1.0');
    await floored.serve();
    const below = buildBundle(tmp.path, { version: '0.9.5', key });
    writeFileSync(commandFile, signedForce(key, sha256Of(below)));
    assert.equal(
      floored.agent('apply', below, sha256Of(below), 'force', commandFile).code,
      1,
      'refused already on the agent side',
    );
    writeFileSync(
      join(tmp.path, 'req.json'),
      JSON.stringify({
        op: 'apply',
        bundle: `${sha256Of(below)}.bundle`,
        sha256: sha256Of(below),
        force: true,
        commandId: 'cmd-force-01',
        command: readFileSync(commandFile, 'utf8'),
      }),
    );
    // The agent bypassing its own check: root still refuses below the floor.
    const dl = join(floored.config.dataDir, 'downloads');
    asAgent(['mkdir', '-p', dl, join(floored.config.dataDir, 'requests')]);
    asAgent(['cp', below, join(dl, `${sha256Of(below)}.bundle`)]);
    asAgent(['cp', join(tmp.path, 'req.json'), join(floored.config.dataDir, 'requests/000000000009.json')]);
    await floored.serve();
    assert.equal(bootableVersion(floored.config), '1.1.0');
    assert.match((await floored.engine.status()).state.last?.reason ?? '', /below the version floor 1\.0\.0/);
  });

  it('cleans up', () => tmp.remove());
});
