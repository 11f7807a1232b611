/**
 * Reloads and the agent's stop. Found in review: the SIGHUP handler stays wired while the
 * agent stops (run.ts), and the Reloader took a reload after its stop(): it recorded the
 * new config as active (on trial) and started pollers on the stopped agent; a reload under
 * way when SIGTERM came went on beside the shutdown.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import type { PollerStats } from '../../src/core/poller.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { startInProcess } from './peers.js';

const dir = tempDir('edge-agent-reload-stop-');
after(() => dir.remove());

async function configFile(name: string): Promise<{ file: string; write: (devices: string[]) => void }> {
  const port = await freePort();
  const file = join(dir.path, `${name}.yaml`);
  const write = (devices: string[]): void =>
    writeFileSync(
      file,
      stringify({
        agent: { id: 'gw', site: 'stop' },
        store: { path: join(dir.path, `${name}.db`) },
        http: { enabled: false },
        reload: { historyDir: join(dir.path, `${name}-history`) },
        devices: devices.map((n) => ({
          name: n,
          driver: 'modbus',
          connection: { transport: 'tcp', host: '127.0.0.1', port },
          tags: [{ name: 't0', function: 'holding', address: 0, type: 'u16' }],
        })),
      }),
    );
  write(['a']);
  return { file, write };
}

test('a reload after the agent stopped is refused and changes nothing', async () => {
  const { file, write } = await configFile('after');
  const run = await startInProcess(file);
  const before = run.reload.reloader.info().hash;
  await run.stop();
  write(['a', 'b']);
  const result = await run.reload.reloader.reloadFile();
  assert.equal(result.status, 'refused');
  assert.equal(run.reload.reloader.info().hash, before);
  const devices = run.agent.status().devices as PollerStats[];
  assert.deepEqual(
    devices.map((d) => [d.device, d.state]),
    [['a', 'stopped']],
  );
});

test('a reload under way when the agent stops finishes first; then every poller stops', async () => {
  const { file, write } = await configFile('during');
  const run = await startInProcess(file);
  write(['a', 'b']);
  const reloading = run.reload.reloader.reloadFile();
  await run.stop();
  assert.equal((await reloading).status, 'applied');
  const devices = run.agent.status().devices as PollerStats[];
  assert.deepEqual(
    devices.map((d) => [d.device, d.state]),
    [
      ['a', 'stopped'],
      ['b', 'stopped'],
    ],
  );
});
