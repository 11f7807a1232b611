import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI } from './harness.js';

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, EDGE_MQTT_PASSWORD: 'hunter2-secret' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('edge-agent CLI', () => {
  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    assert.deepEqual(cli('--version'), { code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });

  it('--help lists the commands', () => {
    const r = cli('--help');
    assert.equal(r.code, 0);
    for (const command of ['run --config', 'check-config', 'demo'])
      assert.ok(r.stdout.includes(command), command);
  });

  it('an unknown command exits 1 with help on stderr', () => {
    const r = cli('frobnicate');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown command "frobnicate"/);
  });

  it('check-config accepts a shipped config', () => {
    const r = cli('check-config', 'firmware-config/station-tcp.yaml');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /ok \(2 devices, 10 tags\)/);
    assert.ok(!r.stdout.includes('hunter2-secret'), 'secret never printed');
  });

  it('check-config prints every problem with its path and exits 1', () => {
    const r = cli('check-config', join('test/config/broken/bad-tags.yaml'));
    assert.equal(r.code, 1);
    assert.match(r.stdout, /4 problems/);
    assert.match(r.stdout, /^ {2}devices\[2\]\.tags\[1\]\.type: a coil tag must have type bool, not u16$/m);
    assert.match(r.stdout, /^ {2}devices\[2\]\.tags\[5\]\.address: /m);
  });

  it('check-config reports an unresolvable secret by field, without its value', () => {
    const r = spawnSync(process.execPath, [CLI, 'check-config', 'firmware-config/station-tcp.yaml'], {
      encoding: 'utf8',
      env: { ...process.env, EDGE_MQTT_PASSWORD: '' },
    });
    assert.equal(r.status, 1);
    assert.match(r.stdout, /mqtt\.password: environment variable EDGE_MQTT_PASSWORD is not set/);
    const schemaOnly = spawnSync(
      process.execPath,
      [CLI, 'check-config', '--schema-only', 'firmware-config/station-tcp.yaml'],
      { encoding: 'utf8', env: { ...process.env, EDGE_MQTT_PASSWORD: '' } },
    );
    assert.equal(schemaOnly.status, 0);
  });

  it('check-config on a missing file exits 2 with EDGE_ERR_CONFIG_READ', () => {
    const r = cli('check-config', '/nonexistent/config.yaml');
    assert.equal(r.code, 2);
    assert.match(r.stdout, /EDGE_ERR_CONFIG_READ/);
  });

  it('run with an invalid config exits 1 naming the path', () => {
    const r = cli('run', '--config', 'test/config/broken/unknown-keys.yaml');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /EDGE_ERR_CONFIG_INVALID/);
    assert.match(r.stderr, /devices\[0\]\.tags\[0\]: unknown key "sacle"/);
  });
});

describe('edge-agent demo', () => {
  it('starts a station on embedded defaults, forwards to the embedded broker, stops on SIGINT', async () => {
    const { spawn } = await import('node:child_process');
    const { tempDir } = await import('../helpers/tmp.js');
    const { freePort } = await import('../helpers/net.js');
    const { waitFor } = await import('../helpers/wait.js');
    const dir = tempDir();
    const httpPort = await freePort();
    const child = spawn(
      process.execPath,
      [CLI, 'demo', '--data-dir', dir.path, '--http-port', String(httpPort)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor('demo banner', () => out.includes('Ctrl-C to stop.'), 20_000);
      assert.match(out, new RegExp(`http://127\\.0\\.0\\.1:${httpPort}/metrics`));
      // The station page's URL comes first; the page, a DTU link and the piles are there.
      assert.equal(stdout.split('\n')[0], `station page: http://127.0.0.1:${httpPort}/`);
      assert.match(await (await fetch(`http://127.0.0.1:${httpPort}/`)).text(), /<title>edge-agent station/);
      await waitFor(
        'the DTU link up and three piles authenticated',
        async () => {
          const status = (await (await fetch(`http://127.0.0.1:${httpPort}/status.json`)).json()) as {
            dtu: { links: Record<string, { up: boolean }> } | null;
            cip22: { authenticated: number } | null;
          };
          return status.dtu?.links['dtu-canopy']?.up === true && status.cip22?.authenticated === 3;
        },
        20_000,
      );
      await waitFor(
        'records acknowledged by the embedded broker',
        async () => {
          const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
          const published = /^edge_records_published_total (\d+)/m.exec(metrics);
          return published !== null && Number(published[1]) > 0;
        },
        20_000,
      );
      child.kill('SIGINT');
      assert.equal(await exited, 0, out);
    } finally {
      child.kill('SIGKILL');
      dir.remove();
    }
  });
});
