/**
 * The agent loads what its config uses: a Modbus-only agent never loads the CIP-22
 * identity stack (asn1, sm-crypto) nor prom-client without the status endpoint, nor
 * protobufjs without Sparkplug; with
 * CIP-22 and the endpoint on, both load on demand and the gateway runs. Fresh child
 * processes, so nothing this test file imports can mask a load.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { cip22Pki } from '../helpers/cip22-pki.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

const CHILD = new URL('./fixtures/lazy-child.js', import.meta.url).pathname;
const IDENTITY_STACK = ['sm-crypto-v2', '@peculiar/asn1-schema', '@peculiar/asn1-x509'];

async function runChild(args: Record<string, unknown>): Promise<{ packages: string[]; cip22: boolean }> {
  const { stdout } = await promisify(execFile)(process.execPath, [CHILD, JSON.stringify(args)], {
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { packages: string[]; cip22: boolean };
}

test('a Modbus-only agent without the status endpoint loads neither the CIP-22 identity stack nor prom-client nor protobufjs', async (t) => {
  const dir = tempDir('edge-agent-lazy-');
  t.after(() => dir.remove());
  const out = await runChild({ dir: dir.path, modbusPort: await freePort(), http: false });
  assert.equal(out.cip22, false);
  assert.ok(
    out.packages.includes('better-sqlite3'),
    `the probe sees CommonJS loads: ${out.packages.join(' ')}`,
  );
  for (const p of [...IDENTITY_STACK, 'prom-client', 'protobufjs'])
    assert.ok(!out.packages.includes(p), `${p} loaded: ${out.packages.join(' ')}`);
});

test('with CIP-22 and the status endpoint on, the identity stack and prom-client load and the gateway runs', async (t) => {
  const dir = tempDir('edge-agent-lazy-');
  t.after(() => dir.remove());
  const pki = cip22Pki();
  const chain = join(dir.path, 'server-chain.pem');
  writeFileSync(
    chain,
    Buffer.concat([readFileSync(pki.p256.server.certPem), readFileSync(pki.p256.issuing.certPem)]),
  );
  const out = await runChild({
    dir: dir.path,
    modbusPort: await freePort(),
    http: true,
    cip22: {
      cert: chain,
      key: pki.p256.server.keyPem,
      roots: [pki.p256.root.certPem],
      port: await freePort(),
    },
  });
  assert.equal(out.cip22, true, 'the gateway started');
  for (const p of [...IDENTITY_STACK, 'prom-client'])
    assert.ok(out.packages.includes(p), `${p} not loaded: ${out.packages.join(' ')}`);
});
