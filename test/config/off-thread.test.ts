/**
 * Config checks off the main isolate (src/config/off-thread.ts): a worker thread returns
 * what load.ts returns in-process — the validated object, or the same issues with the same
 * paths and messages — and `edge-agent run`'s start-up check leaves the composed schema out
 * of the main isolate (a child process with the load recorder).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, test } from 'node:test';
import { promisify } from 'node:util';
import { checkConfigText, loadConfigFile, validateConfig } from '../../src/config/load.js';
import {
  checkConfigTextOffThread,
  loadConfigFileOffThread,
  validateConfigOffThread,
} from '../../src/config/off-thread.js';
import { demoConfig } from '../../src/demo/config.js';
import { EdgeError } from '../../src/core/errors.js';
import { tempDir } from '../helpers/tmp.js';

const root = process.cwd();
const yamlIn = (dir: string): string[] => readdirSync(join(root, dir)).filter((f) => /\.ya?ml$/.test(f));

describe('a worker checks a config as load.ts does', () => {
  const files = [
    ...yamlIn('firmware-config').map((f) => join('firmware-config', f)),
    ...yamlIn('test/config/broken').map((f) => join('test/config/broken', f)),
  ];
  it('has valid and broken configs to compare', () => assert.ok(files.length >= 8));
  for (const file of files) {
    it(file, async () => {
      const text = readFileSync(join(root, file), 'utf8');
      const here = checkConfigText(text);
      const there = await checkConfigTextOffThread(text);
      assert.deepStrictEqual(there, here);
      if (there.ok) assert.ok(Object.isFrozen(there.config), 'the validated config is frozen, as in-process');
    });
  }

  it('YAML syntax errors and duplicate device names: same issues', async () => {
    const dupes =
      'devices:\n  - { name: a, driver: modbus, connection: { transport: tcp, host: h }, tags: [] }\n'.repeat(
        2,
      );
    for (const text of ['mqtt: {url: [', 'a: 1\na: 2\n', dupes]) {
      const here = checkConfigText(text);
      assert.equal(here.ok, false, text);
      assert.deepStrictEqual(await checkConfigTextOffThread(text), here);
    }
  });

  it('a plain object (the demo station): same validated config', async () => {
    const raw = demoConfig({
      modbusPort: 1502,
      mqttUrl: 'mqtt://127.0.0.1:1883',
      dataDir: '/tmp/x',
      httpPort: 0,
    });
    const here = validateConfig(raw);
    assert.ok(here.ok);
    assert.deepStrictEqual(await validateConfigOffThread(raw), here);
  });

  it('a file: the same EDGE_ERR_CONFIG_READ / _INVALID errors as loadConfigFile', async (t) => {
    const dir = tempDir('edge-agent-off-thread-');
    t.after(() => dir.remove());
    const broken = join(dir.path, 'broken.yaml');
    writeFileSync(broken, 'devices:\n  - { name: x, driver: nope }\n');
    for (const file of [join(dir.path, 'missing.yaml'), broken]) {
      const here = (() => {
        try {
          loadConfigFile(file);
        } catch (error) {
          return error as EdgeError;
        }
        assert.fail(`${file} loads`);
      })();
      await assert.rejects(loadConfigFileOffThread(file), (error: EdgeError) => {
        assert.ok(error instanceof EdgeError);
        assert.equal(error.code, here.code);
        assert.equal(error.message, here.message);
        assert.deepStrictEqual(error.context, here.context);
        return true;
      });
    }
  });
});

const CHILD = new URL('./fixtures/startup-child.js', import.meta.url).pathname;
const RECORDER = new URL('../agent/fixtures/load-recorder.js', import.meta.url).href;
const DIST_SRC = new URL('../../src/', import.meta.url).href;
/** The composed schema and the in-process check: what the worker holds instead. */
const SCHEMA_MODULES =
  /^(config\/(schema|load|sections\/.*)|drivers\/schemas|cip22\/config|host\/config)\.js$/;

test("edge-agent run's start-up check loads no schema module in the main isolate", async (t) => {
  const dir = tempDir('edge-agent-off-thread-run-');
  t.after(() => dir.remove());
  const file = join(dir.path, 'config.yaml');
  const minimal = readFileSync(join(root, 'firmware-config/minimal.yaml'), 'utf8');
  writeFileSync(file, `${minimal}\nreload: { historyDir: ${join(dir.path, 'history')} }\n`);
  const loads = join(dir.path, 'loads.txt');
  writeFileSync(loads, '');
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', RECORDER, CHILD, file], {
    timeout: 60_000,
    env: { ...process.env, EDGE_TEST_LOADS_FILE: loads },
  });
  assert.deepStrictEqual(JSON.parse(stdout.trim()), { devices: ['meter-1'], frozen: true });
  const modules = readFileSync(loads, 'utf8')
    .split('\n')
    .filter((url) => url.startsWith(DIST_SRC))
    .map((url) => url.slice(DIST_SRC.length));
  assert.ok(modules.includes('reload/runtime.js'), `the recorder sees loads: ${modules.length}`);
  assert.deepStrictEqual(
    modules.filter((m) => SCHEMA_MODULES.test(m)),
    [],
  );
});
