/**
 * SIGKILL and a real power cut in the middle of an apply: afterwards the agent starts on
 * the old config or the new one, whole (its text matches its hash), never a mix. Each crash
 * point of the Reloader is hit in a child process; the power-cut variant puts the history
 * on an ext4 loop file system and cuts it first (test/helpers/powercut.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { ConfigHistory, startupText } from '../../src/reload/history.js';
import { configHash } from '../../src/reload/validate.js';
import { createLoopFs, powerCutSkip, type LoopFs } from '../helpers/powercut.js';
import { tempDir } from '../helpers/tmp.js';

const CHILD = join(process.cwd(), 'dist/test/reload/fixtures/crash-child.js');
const POINTS = ['validated', 'stored', 'activated', 'applied'] as const;
/** Where the new config is the one to start on after the crash. */
const NEW_AFTER: ReadonlySet<string> = new Set(['activated', 'applied']);

function configs(dir: string): { oldFile: string; newFile: string; oldText: string } {
  const device = (intervalMs: number): Record<string, unknown> => ({
    name: 'd1',
    driver: 'modbus',
    connection: { transport: 'tcp', host: '127.0.0.1', port: 1502 },
    intervalMs,
    tags: [{ name: 't0', function: 'holding', address: 0, type: 'u16' }],
  });
  const oldText = stringify({ agent: { id: 'gw', site: 'crash' }, devices: [device(1000)] });
  const oldFile = join(dir, 'old.yaml');
  const newFile = join(dir, 'new.yaml');
  writeFileSync(oldFile, oldText);
  // A live change (commands) that touches no device: the stand-in agent can take it.
  writeFileSync(
    newFile,
    stringify({
      agent: { id: 'gw', site: 'crash' },
      commands: { allowWrites: true },
      devices: [device(1000)],
    }),
  );
  return { oldFile, newFile, oldText };
}

function runChild(
  historyDir: string,
  oldFile: string,
  newFile: string,
  point: string,
  env: Record<string, string> = {},
): void {
  const r = spawnSync(process.execPath, [CHILD, historyDir, oldFile, newFile, point], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  if (point === 'none') assert.equal(r.status, 0, r.stderr);
  else assert.equal(r.signal, 'SIGKILL', `crash at ${point}: ${r.stderr}`);
}

/** The config a start would run on: whole, and old or new as the crash point says. */
function assertWhole(historyDir: string, newFile: string, oldText: string, point: string): void {
  const history = new ConfigHistory(historyDir);
  const start = startupText(history, readFileSync(newFile, 'utf8'));
  const state = history.readSync();
  const expected = NEW_AFTER.has(point) ? configHash(readFileSync(newFile, 'utf8')) : configHash(oldText);
  assert.equal(state.active?.hash, expected, `active after a crash at ${point}`);
  // The text it names is there and is exactly what the hash says.
  assert.equal(configHash(history.textSync(state.active.hash)), state.active.hash);
  if (NEW_AFTER.has(point)) assert.equal(configHash(start.text), expected);
}

describe('a crash in the middle of an apply', { timeout: 120_000 }, () => {
  const dir = tempDir('edge-agent-reload-crash-');
  after(() => dir.remove());

  for (const point of POINTS) {
    it(`SIGKILL at ${point}: the old or the new config, whole`, () => {
      const historyDir = join(dir.path, `kill-${point}`);
      const { oldFile, newFile, oldText } = configs(dir.path);
      runChild(historyDir, oldFile, oldFile, 'none');
      runChild(historyDir, oldFile, newFile, point);
      assertWhole(historyDir, newFile, oldText, point);
    });
  }
});

const skip = powerCutSkip();
describe('a power cut in the middle of an apply', { timeout: 120_000, skip }, () => {
  let fs: LoopFs;
  const dir = tempDir('edge-agent-reload-cut-');
  before(() => {
    fs = createLoopFs(32);
  });
  after(() => {
    fs?.remove();
    dir.remove();
  });

  for (const point of POINTS) {
    it(`power cut at ${point}: the old or the new config, whole`, () => {
      const historyDir = join(fs.mount, `cut-${point}`);
      const { oldFile, newFile, oldText } = configs(dir.path);
      runChild(historyDir, oldFile, oldFile, 'none');
      runChild(historyDir, oldFile, newFile, point, { POWERCUT_MOUNT: fs.mount });
      fs.remount();
      assertWhole(historyDir, newFile, oldText, point);
    });
  }
});
