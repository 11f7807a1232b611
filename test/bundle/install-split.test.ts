/**
 * deploy/install.sh as root with a real unprivileged agent uid (issue 12 item 1): each hole
 * the review found is planted the way the agent (which owned /opt/edge-agent under the old
 * layout) could have planted it, then the installer runs. Afterwards the agent uid can
 * write nothing that root later runs, and the unit's ExecStartPre verifier
 * (`verify-bundle.mjs installed`) refuses a release that differs from its signed manifest.
 * Needs root (chown, setpriv); skips with the reason otherwise.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT_UID, asAgent, needsRoot } from '../helpers/agent-uid.js';
import { tempDir } from '../helpers/tmp.js';
import { buildBundle, keygen } from './fixture.js';

const INSTALL = join(process.cwd(), 'deploy/install.sh');
const VERIFY = join(process.cwd(), 'deploy/verify-bundle.mjs');
describe('install.sh under the root/agent split', { skip: needsRoot }, () => {
  const tmp = tempDir('edge-install-split-');
  let key: Awaited<ReturnType<typeof keygen>>;
  let v1 = '';
  let n = 0;

  before(async () => {
    chmodSync(tmp.path, 0o755); // the agent uid must reach the root below it
    key = await keygen(join(tmp.path, 'key'));
    v1 = await buildBundle({
      target: 'linux-x64',
      version: '1.0.0',
      key: key.privateFile,
      out: join(tmp.path, 'out'),
    });
  });
  after(() => tmp.remove());

  function install(root: string, ...args: string[]): { code: number | null; out: string } {
    const r = spawnSync(
      INSTALL,
      [v1, '--root', root, '--agent-user', `${AGENT_UID}:${AGENT_UID}`, '--pubkey', key.publicFile, ...args],
      { encoding: 'utf8' },
    );
    return { code: r.status, out: r.stdout + r.stderr };
  }

  /** A fresh root whose /opt/edge-agent is the agent's, as the old layout had it. */
  function oldLayout(): { root: string; opt: string } {
    const root = join(tmp.path, `r${++n}`);
    const opt = join(root, 'opt/edge-agent');
    mkdirSync(join(opt, 'releases'), { recursive: true });
    for (const dir of [opt, join(opt, 'releases')]) chownSync(dir, AGENT_UID, AGENT_UID);
    return { root, opt };
  }

  /** A release tree the agent wrote: same version as the bundle, its own main.js. */
  function plantRelease(opt: string, marker: string): string {
    const dir = join(opt, 'releases/1.0.0');
    mkdirSync(join(dir, 'dist/src/cli'), { recursive: true });
    mkdirSync(join(dir, 'firmware-config'), { recursive: true });
    writeFileSync(
      join(dir, 'dist/src/cli/main.js'),
      `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran as ' + process.getuid());\n`,
    );
    return dir;
  }

  const bundled = (path: string): string =>
    spawnSync('tar', ['-xzOf', v1, `release/${path}`], { encoding: 'utf8' }).stdout;

  it('hole: a planted releases/<version> was kept and its main.js run as root (check-config)', () => {
    const { root, opt } = oldLayout();
    const marker = join(tmp.path, `marker-${n}`);
    plantRelease(opt, marker);
    const r = install(root, '--config', 'firmware-config/minimal.yaml');
    assert.equal(r.code, 0, r.out);
    assert.equal(existsSync(marker), false, 'the planted main.js never ran');
    const main = join(opt, 'releases/1.0.0/dist/src/cli/main.js');
    assert.equal(
      readFileSync(main, 'utf8'),
      bundled('dist/src/cli/main.js'),
      'the verified tree is what is installed',
    );
    assert.equal(lstatSync(main).uid, 0);
  });

  it('hole: install followed a symlinked firmware-config/minimal.yaml (a root-only file became readable)', () => {
    const { root, opt } = oldLayout();
    const secret = join(tmp.path, `shadow-${n}`);
    writeFileSync(secret, 'root:$6$secret\n', { mode: 0o600 });
    const dir = plantRelease(opt, join(tmp.path, 'unused'));
    symlinkSync(secret, join(dir, 'firmware-config/minimal.yaml'));
    const r = install(root);
    assert.equal(r.code, 0, r.out);
    const example = readFileSync(join(root, 'etc/edge-agent/config.example.yaml'), 'utf8');
    assert.doesNotMatch(example, /secret/);
    assert.equal(example, bundled('firmware-config/minimal.yaml'));
  });

  it('hole: chown/chmod followed a releases symlink and handed the target to the agent', () => {
    const { root, opt } = oldLayout();
    const victim = join(root, 'etc/systemd/system');
    mkdirSync(victim, { recursive: true });
    chmodSync(victim, 0o700);
    spawnSync('rm', ['-rf', join(opt, 'releases')]);
    symlinkSync(victim, join(opt, 'releases'));
    const r = install(root);
    assert.equal(r.code, 0, r.out);
    const v = lstatSync(victim);
    assert.deepEqual([v.uid, v.mode & 0o7777], [0, 0o700], 'the link target keeps its owner and mode');
    assert.ok(lstatSync(join(opt, 'releases')).isDirectory(), 'releases is a real directory again');
  });

  it('after install the agent uid can change nothing root runs: releases, links, launcher, scratch, state', () => {
    const { root, opt } = oldLayout();
    const r = install(root);
    assert.equal(r.code, 0, r.out);
    // /usr/local/bin/edge-agent resolves to a file whose every ancestor is root's, not group/other-writable.
    const launcher = realpathSync(join(root, 'opt/edge-agent/current/bin/edge-agent'));
    assert.equal(
      readlinkSync(join(root, 'usr/local/bin/edge-agent')),
      '/opt/edge-agent/current/bin/edge-agent',
    );
    for (let p = launcher; p !== root; p = dirname(p)) {
      const st = lstatSync(p);
      assert.equal(st.uid, 0, `${p} is root's`);
      assert.equal(st.mode & 0o022, 0, `${p} is not group/other-writable`);
    }
    const attempts: [string, string[]][] = [
      ['add a release', ['mkdir', join(opt, 'releases/9.9.9')]],
      ['swap current', ['ln', '-sfn', 'releases/9.9.9', join(opt, 'current')]],
      ['plant a scratch dir', ['mkdir', join(opt, '.incoming-x')]],
      ['edit code', ['sh', '-c', `echo x >> ${join(opt, 'current/dist/src/cli/main.js')}`]],
      ['edit the OTA state', ['touch', join(root, 'var/lib/edge-agent-ota/state.json')]],
      ['raise or lower the floor', ['touch', join(root, 'var/lib/edge-agent-ota/floor')]],
      ['edit the verifier', ['touch', join(root, 'usr/local/lib/edge-agent/verify-bundle.mjs')]],
      ['pin a key', ['touch', join(root, 'etc/edge-agent/ota-keys/evil.pem')]],
    ];
    for (const [what, argv] of attempts) {
      const attempt = asAgent(argv);
      assert.notEqual(attempt.code, 0, `the agent could ${what}: ${attempt.out}`);
    }
    const staging = asAgent(['touch', join(root, 'var/lib/edge-agent/ota/requests-probe')]);
    assert.equal(staging.code, 0, `the agent owns its staging area: ${staging.out}`);
  });

  it('the ExecStartPre verifier passes the installed release and refuses a changed, an extra or a non-root file', () => {
    const { root, opt } = oldLayout();
    assert.equal(install(root).code, 0);
    const keys = join(root, 'etc/edge-agent/ota-keys');
    const check = () =>
      spawnSync(process.execPath, [VERIFY, 'installed', join(opt, 'current'), keys], { encoding: 'utf8' });
    assert.equal(check().stdout.trim(), '1.0.0', check().stderr);
    const main = join(opt, 'current/dist/src/cli/main.js');
    const original = readFileSync(main);
    writeFileSync(main, Buffer.concat([original, Buffer.from('\n')]));
    assert.match(check().stderr, /main\.js: \d+ bytes, manifest says/);
    writeFileSync(main, original);
    const extra = join(opt, 'current/dist/src/extra.js');
    writeFileSync(extra, 'x');
    assert.match(check().stderr, /extra\.js is not in the manifest/);
    spawnSync('rm', [extra]);
    chownSync(main, AGENT_UID, AGENT_UID);
    assert.match(check().stderr, /main\.js is owned by uid 4242/);
    chownSync(main, 0, 0);
    assert.equal(check().status, 0);
  });
});
