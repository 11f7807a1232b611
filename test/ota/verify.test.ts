import assert from 'node:assert/strict';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { EdgeError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/ports.js';
import { OtaEngine } from '../../src/ota/engine.js';
import { tempDir } from '../helpers/tmp.js';
import {
  bootableVersion,
  buildBundle,
  factoryInstall,
  makeKey,
  testOtaConfig,
  type BundleOptions,
  type TarEntry,
} from './helpers.js';

function setup(t: { after(fn: () => void): void }) {
  const tmp = tempDir('edge-ota-verify-');
  t.after(tmp.remove);
  const key = makeKey(tmp.path);
  const config = testOtaConfig(tmp.path, key);
  factoryInstall(config, '1.0.0');
  const restarts: string[] = [];
  const engine = new OtaEngine({
    config,
    logger: silentLogger,
    clock: new ManualClock(),
    restart: (r) => void restarts.push(r),
  });
  return { tmp, key, config, engine, restarts };
}

async function refused(
  t: { after(fn: () => void): void },
  code: string,
  options: Partial<BundleOptions> & { version?: string },
  force = false,
): Promise<void> {
  const s = setup(t);
  const bundle = buildBundle(s.tmp.path, { version: '1.1.0', key: s.key, ...options });
  await assert.rejects(
    s.engine.apply({ source: bundle, origin: 'cli', force }),
    (e: unknown) => e instanceof EdgeError && e.code === code,
  );
  assert.equal(readlinkSync(join(s.config.root, 'current')), 'releases/1.0.0', 'current unchanged');
  assert.equal(bootableVersion(s.config), '1.0.0');
  assert.deepEqual(readdirSync(join(s.config.root, 'releases')), ['1.0.0'], 'nothing unpacked stays');
  const status = await s.engine.status();
  assert.equal(status.state.step.phase, 'idle');
  assert.equal(status.state.last?.outcome, 'failed');
  assert.equal(status.state.last?.code, code);
  assert.deepEqual(s.restarts, []);
}

const swapBody = (path: string, body: Buffer) => (entries: TarEntry[]) =>
  entries.map((e) => (e.path === path ? { ...e, body } : e));

describe('OTA verification refuses before any switch', () => {
  it('accepts a good bundle: switches current and previous, state on trial, restart requested', async (t) => {
    const s = setup(t);
    const bundle = buildBundle(s.tmp.path, { version: '1.1.0', key: s.key });
    const result = await s.engine.apply({ source: bundle, origin: 'cli' });
    assert.deepEqual(result, { version: '1.1.0', from: '1.0.0', bytesFetched: 0 });
    assert.equal(readlinkSync(join(s.config.root, 'current')), 'releases/1.1.0');
    assert.equal(readlinkSync(join(s.config.root, 'previous')), 'releases/1.0.0');
    assert.equal(bootableVersion(s.config), '1.1.0');
    const status = await s.engine.status();
    assert.deepEqual(
      { ...status.state.step, since: 0 },
      { phase: 'trial', from: '1.0.0', to: '1.1.0', since: 0, boots: 0 },
    );
    assert.deepEqual(s.restarts, ['switched to 1.1.0']);
  });

  it('refuses a tampered file', (t) =>
    refused(t, 'EDGE_ERR_OTA_HASH', {
      mutate: swapBody('release/dist/src/cli/main.js', Buffer.from('console.log("evil")\n')),
    }));
  it('refuses a file of the right content but a padded size', (t) =>
    refused(t, 'EDGE_ERR_OTA_HASH', {
      mutate: (e) =>
        e.map((x) =>
          x.path === 'release/package.json'
            ? { ...x, body: Buffer.concat([x.body ?? Buffer.alloc(0), Buffer.from(' ')]) }
            : x,
        ),
    }));
  it('refuses a missing file', (t) =>
    refused(t, 'EDGE_ERR_OTA_HASH', { mutate: (e) => e.filter((x) => x.path !== 'release/package.json') }));
  it('refuses a file not in the manifest', (t) =>
    refused(t, 'EDGE_ERR_OTA_BUNDLE', {
      mutate: (e) => [...e, { path: 'release/dist/extra.js', body: Buffer.from('x') }],
    }));
  // issue 12 item 8: an empty directory entry no manifest line vouches for was created.
  it('refuses a directory entry that is not in the manifest', (t) =>
    refused(t, 'EDGE_ERR_OTA_BUNDLE', {
      mutate: (e) => [...e, { path: 'release/dist/hooks.d/', type: 'Directory' }],
    }));
  it('refuses a path with ..', (t) =>
    refused(t, 'EDGE_ERR_OTA_BUNDLE', {
      mutate: (e) => [...e, { path: 'release/../../evil', body: Buffer.from('x') }],
    }));
  it('refuses an entry outside release/', (t) =>
    refused(t, 'EDGE_ERR_OTA_BUNDLE', {
      mutate: (e) => [...e, { path: 'etc/passwd', body: Buffer.from('x') }],
    }));
  it('refuses a symlink', (t) =>
    refused(t, 'EDGE_ERR_OTA_BUNDLE', {
      mutate: (e) => [...e, { path: 'release/dist/link', type: 'SymbolicLink', linkpath: '/etc' }],
    }));
  it('refuses a hard link', (t) =>
    refused(t, 'EDGE_ERR_OTA_BUNDLE', {
      mutate: (e) => [...e, { path: 'release/dist/hard', type: 'Link', linkpath: 'release/package.json' }],
    }));
  it('refuses a bad signature', (t) => {
    const dir = tempDir();
    t.after(() => dir.remove());
    const other = makeKey(dir.path, 'other');
    return refused(t, 'EDGE_ERR_OTA_SIGNATURE', { signWith: other.privateKey });
  });
  it('refuses a manifest altered after signing', (t) =>
    refused(t, 'EDGE_ERR_OTA_SIGNATURE', {
      mutateManifest: (b) =>
        Buffer.from(b.toString().replace('"minPreviousVersion": "0.0.0"', '"minPreviousVersion": "0.0.1"')),
    }));
  it('refuses an unknown key', (t) => {
    const dir = tempDir();
    t.after(() => dir.remove());
    return refused(t, 'EDGE_ERR_OTA_UNKNOWN_KEY', { key: makeKey(dir.path, 'stranger') });
  });
  it('refuses another target', (t) =>
    refused(t, 'EDGE_ERR_OTA_INCOMPATIBLE', {
      target: process.arch === 'arm64' ? 'linux-x64' : 'linux-arm64',
    }));
  it('refuses another Node ABI', (t) => refused(t, 'EDGE_ERR_OTA_INCOMPATIBLE', { nodeAbi: '108' }));
  it('refuses a downgrade', (t) => refused(t, 'EDGE_ERR_OTA_DOWNGRADE', { version: '0.9.0' }));
  it('refuses the version already installed, even forced', (t) =>
    refused(t, 'EDGE_ERR_OTA_DOWNGRADE', { version: '1.0.0' }, true));
  it('refuses when the installed version is below the floor', (t) =>
    refused(t, 'EDGE_ERR_OTA_DOWNGRADE', { minPreviousVersion: '1.0.5' }));
  it('refuses garbage instead of a bundle', async (t) => {
    const s = setup(t);
    const file = join(s.tmp.path, 'junk.tar.gz');
    (await import('node:fs')).writeFileSync(file, Buffer.alloc(4096, 7));
    await assert.rejects(
      s.engine.apply({ source: file, origin: 'cli' }),
      (e: unknown) => e instanceof EdgeError && e.code === 'EDGE_ERR_OTA_BUNDLE',
    );
    assert.equal(bootableVersion(s.config), '1.0.0');
  });

  it('accepts a downgrade with --force', async (t) => {
    const s = setup(t);
    const bundle = buildBundle(s.tmp.path, { version: '0.9.0', key: s.key });
    await s.engine.apply({ source: bundle, origin: 'cli', force: true });
    assert.equal(bootableVersion(s.config), '0.9.0');
  });

  it('refuses local files from a remote command and http:// URLs', async (t) => {
    const s = setup(t);
    const bundle = buildBundle(s.tmp.path, { version: '1.1.0', key: s.key });
    await assert.rejects(
      s.engine.apply({ source: bundle, origin: 'command' }),
      /EDGE_ERR_OTA_SOURCE|https:\/\/ URL/,
    );
    await assert.rejects(
      s.engine.apply({ source: 'http://127.0.0.1:1/b.tar.gz', origin: 'command' }),
      (e: unknown) => e instanceof EdgeError && e.code === 'EDGE_ERR_OTA_SOURCE',
    );
    assert.equal(bootableVersion(s.config), '1.0.0');
    assert.equal(existsSync(join(s.config.root, 'previous')), false);
  });
});

describe('OTA bundles as a tar tool writes them', () => {
  it('accepts directory entries, ./ prefixes and long paths (pax headers) from node-tar', async (t) => {
    const { c } = await import('tar');
    const { mkdirSync, writeFileSync } = await import('node:fs');
    const { createHash } = await import('node:crypto');
    const { serializeManifest, signManifest } = await import('../../src/ota/manifest.js');
    const s = setup(t);
    const stage = join(s.tmp.path, 'stage');
    const longPath = `node_modules/${'a-very-long-package-name/'.repeat(6)}index.js`;
    const files = new Map([
      ['package.json', '{"name":"edge-agent","version":"1.2.0"}'],
      ['dist/src/cli/main.js', 'process.stdout.write("1.2.0\\n");\n'],
      [longPath, 'export {};\n'],
    ]);
    for (const [path, body] of files) {
      mkdirSync(join(stage, 'release', path, '..'), { recursive: true });
      writeFileSync(join(stage, 'release', path), body);
    }
    const manifest = {
      format: 1 as const,
      name: 'edge-agent' as const,
      version: '1.2.0',
      target: `linux-${process.arch}` as 'linux-x64',
      nodeAbi: process.versions.modules,
      minPreviousVersion: '1.0.0',
      createdAt: '2026-01-01T00:00:00Z',
      keyId: s.key.keyId,
      files: [...files].map(([path, body]) => ({
        path,
        sha256: createHash('sha256').update(body).digest('hex'),
        size: Buffer.byteLength(body),
        mode: 0o644,
      })),
    };
    const bytes = serializeManifest(manifest);
    writeFileSync(join(stage, 'manifest.json'), bytes);
    writeFileSync(join(stage, 'manifest.sig'), signManifest(bytes, s.key.privateKey));
    const bundle = join(s.tmp.path, 'real.tar.gz');
    await c({ gzip: true, cwd: stage, file: bundle, portable: true }, [
      './manifest.json',
      './manifest.sig',
      './release',
    ]);
    await s.engine.apply({ source: bundle, origin: 'cli' });
    assert.equal(readlinkSync(join(s.config.root, 'current')), 'releases/1.2.0');
    assert.equal(
      (await import('node:fs')).readFileSync(join(s.config.root, 'current', longPath), 'utf8'),
      'export {};\n',
    );
  });
});
