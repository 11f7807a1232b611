/**
 * The release's launcher (bin/edge-agent) runs node as the mem bench runs the agent: the
 * same V8 flags and malloc settings (scripts/bundle/runtime.ts is the one source of both).
 * A stand-in for node prints what it was given.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RELEASE_ENV, RELEASE_NODE_FLAGS, launcherScript } from '../../scripts/bundle/runtime.js';
import { tempDir } from '../helpers/tmp.js';

/** Runs the launcher with a stand-in node; returns the malloc settings it saw, then its argv. */
function launch(env: NodeJS.ProcessEnv, t: { after(fn: () => void): void }): string[] {
  const dir = tempDir('edge-agent-launcher-');
  t.after(() => dir.remove());
  mkdirSync(join(dir.path, 'bin'));
  writeFileSync(join(dir.path, 'bin/edge-agent'), launcherScript(), { mode: 0o755 });
  const fakeNode = join(dir.path, 'fake-node');
  writeFileSync(
    fakeNode,
    '#!/bin/sh\nprintf \'%s\\n\' "${MALLOC_ARENA_MAX-unset} ${MALLOC_MMAP_THRESHOLD_-unset}" "$@"\n',
  );
  chmodSync(fakeNode, 0o755);
  const { MALLOC_ARENA_MAX: _arenas, MALLOC_MMAP_THRESHOLD_: _threshold, ...base } = process.env;
  const run = spawnSync(join(dir.path, 'bin/edge-agent'), ['run', '--config', '/x/config.yaml'], {
    encoding: 'utf8',
    env: { ...base, EDGE_AGENT_NODE: fakeNode, ...env },
  });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trimEnd().split('\n');
}

test('the launcher runs node with the release flags and two malloc arenas, EDGE_AGENT_NODE_FLAGS after', (t) => {
  const [malloc, ...argv] = launch({ EDGE_AGENT_NODE_FLAGS: '--no-opt' }, t);
  assert.deepEqual(RELEASE_ENV, { MALLOC_ARENA_MAX: '2' });
  assert.equal(malloc, '2 unset', 'two arenas; the mmap threshold stays dynamic (glibc)');
  assert.deepEqual(argv.slice(0, RELEASE_NODE_FLAGS.length + 1), [...RELEASE_NODE_FLAGS, '--no-opt']);
  assert.match(argv.at(-4) ?? '', /\/dist\/src\/cli\/main\.js$/);
  assert.deepEqual(argv.slice(-3), ['run', '--config', '/x/config.yaml']);
});

test("the launcher's malloc settings yield to the environment (the unit's EnvironmentFile)", (t) => {
  const [malloc] = launch({ MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '32768' }, t);
  assert.equal(malloc, '4 32768');
});

test("the CLI's shebang runs the release flags, and this node accepts every one of them", () => {
  const shebang = readFileSync(new URL('../../../src/cli/main.ts', import.meta.url), 'utf8').split('\n')[0];
  assert.equal(shebang, `#!/usr/bin/env -S node ${RELEASE_NODE_FLAGS.join(' ')}`);
  assert.ok(shebang.length <= 127, `Linux before 5.1 reads 127 bytes of a shebang line: ${shebang.length}`);
  const run = spawnSync(process.execPath, [...RELEASE_NODE_FLAGS, '-p', '6 * 7'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), '42');
  assert.equal(run.stderr, '');
});
