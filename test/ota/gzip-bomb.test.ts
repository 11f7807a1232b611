/**
 * A gzip bomb handed to the privileged step (issue 12, review 3): a bundle of a few hundred
 * KiB that inflates to 256 MiB of zeros, before the manifest or hidden after it as an entry
 * the unpack skips. Root must stop after a bounded read, refuse, and mark the request done
 * so it is not retried at every trigger. As root with the real agent uid, like split.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash, randomFillSync } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { constants, crc32, deflateRawSync, gunzipSync } from 'node:zlib';
import { Header } from 'tar';
import { asAgent, needsRoot } from '../helpers/agent-uid.js';
import { tempDir } from '../helpers/tmp.js';
import { splitMachine } from './split-machine.js';
import { bootableVersion, buildBundle, makeKey, type TarEntry } from './helpers.js';

const BOMB_BYTES = 256 * 1024 * 1024;
const MIB = 1024 * 1024;

/** Offset of the `index`th header in an uncompressed tar. */
function headerOffset(tar: Buffer, index: number): number {
  let offset = 0;
  for (let i = 0; i < index; i++) {
    const size = parseInt(
      tar
        .subarray(offset + 124, offset + 136)
        .toString('latin1')
        .replace(/\0.*$/, ''),
      8,
    );
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return offset;
}

/**
 * The bundle's tar with entry `index` (a 512-byte file named `path`) grown to BOMB_BYTES of
 * zeros (nearly), gzipped so each MiB costs about 2 KiB: independently deflated pieces, each
 * sync-flushed, concatenate into one valid deflate stream.
 */
function gzipBomb(bundle: string, index: number, path: string): Buffer {
  const tar = gunzipSync(readFileSync(bundle));
  const at = headerOffset(tar, index);
  const header = Buffer.alloc(512);
  new Header({
    path,
    type: 'File',
    size: BOMB_BYTES,
    mode: 0o644,
    mtime: new Date(0),
    uid: 0,
    gid: 0,
  }).encode(header, 0);
  const before = Buffer.concat([tar.subarray(0, at), header]);
  const after = tar.subarray(at + 1024);
  // 1 KiB of noise per MiB keeps the ratio near 500, under tar's own 1000:1 refusal.
  const zeros = Buffer.alloc(MIB);
  randomFillSync(zeros, 0, 1024);
  const flush = { finishFlush: constants.Z_SYNC_FLUSH };
  const zeroPiece = deflateRawSync(zeros, flush);
  const pieces = [Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]), deflateRawSync(before, flush)];
  let crc = crc32(before);
  for (let i = 0; i < BOMB_BYTES / MIB; i++) {
    pieces.push(zeroPiece);
    crc = crc32(zeros, crc);
  }
  pieces.push(deflateRawSync(after));
  crc = crc32(after, crc);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE((before.length + BOMB_BYTES + after.length) % 2 ** 32, 4);
  pieces.push(trailer);
  return Buffer.concat(pieces);
}

const sha256Of = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const marker = (path: string): TarEntry => ({ path, body: Buffer.alloc(512) });

describe('OTA gzip bomb at the privileged step', { skip: needsRoot }, () => {
  const tmp = tempDir('edge-ota-bomb-');
  chmodSync(tmp.path, 0o755);
  const key = makeKey(tmp.path);
  let n = 0;

  it('gzip bomb before the manifest: root refuses after a bounded read and marks the request done', async () => {
    const m = splitMachine(join(tmp.path, `m${++n}`), key);
    const bundle = buildBundle(tmp.path, {
      version: '1.1.0',
      key,
      mutate: (e) => [marker('release/pad'), ...e],
    });
    const bomb = gzipBomb(bundle, 0, 'release/pad');
    assert.ok(
      bomb.length < BOMB_BYTES / 256 && bomb.length > BOMB_BYTES / 1000,
      `a bomb: ${bomb.length} bytes compressed`,
    );
    const bombFile = join(tmp.path, 'bomb-before.bundle');
    writeFileSync(bombFile, bomb, { mode: 0o644 });
    // Dropped by hand: the agent's own head check refuses this bundle now.
    const name = `${sha256Of(bomb)}.bundle`;
    const downloads = join(m.config.dataDir, 'downloads');
    asAgent(['mkdir', '-p', downloads, join(m.config.dataDir, 'requests')]);
    assert.equal(asAgent(['cp', bombFile, join(downloads, name)]).code, 0);
    const request = JSON.stringify({ op: 'apply', bundle: name, sha256: sha256Of(bomb), force: false });
    const requestFile = join(m.config.dataDir, 'requests/000000000001.json');
    assert.equal(asAgent(['sh', '-c', `printf '%s' '${request}' > ${requestFile}`]).code, 0);
    assert.deepEqual(await m.serve(), { handled: 1, failed: 1 });
    assert.equal(bootableVersion(m.config), '1.0.0');
    assert.match((await m.engine.status()).state.last?.reason ?? '', /must be the first entries/);
    assert.deepEqual(await m.serve(), { handled: 0, failed: 0 }, 'refused once, never retried');
  });

  it('gzip bomb after the manifest (a second manifest.json the unpack skipped) is refused', async () => {
    const m = splitMachine(join(tmp.path, `m${++n}`), key);
    let at = 0;
    // Last, after 1 MiB of incompressible release bytes: the head check has stopped reading.
    const bundle = buildBundle(tmp.path, {
      version: '1.1.0',
      key,
      extraBytes: MIB,
      mutate: (e) => ((at = e.length), [...e, marker('manifest.json')]),
    });
    const bombFile = join(tmp.path, 'bomb-after.bundle');
    writeFileSync(bombFile, gzipBomb(bundle, at, 'manifest.json'), { mode: 0o644 });
    const asked = m.agent('apply', bombFile);
    assert.equal(asked.code, 0, asked.out);
    assert.deepEqual(await m.serve(), { handled: 1, failed: 1 });
    assert.equal(bootableVersion(m.config), '1.0.0');
    assert.match((await m.engine.status()).state.last?.reason ?? '', /decompresses to more than/);
    assert.deepEqual(await m.serve(), { handled: 0, failed: 0 }, 'refused once, never retried');
  });

  it('cleans up', () => tmp.remove());
});
