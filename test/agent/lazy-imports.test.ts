/**
 * The agent loads what its config uses: a Modbus-only agent never loads the CIP-22
 * identity stack (asn1, sm-crypto), nor prom-client before /metrics is scraped, nor
 * protobufjs without Sparkplug, nor the modules of the drivers it has no device of (S7,
 * OPC UA) or of the DTU hub without a dtu section; with CIP-22 on and a scrape, the
 * gateway runs and prom-client loads, while the CRL parser (asn1) loads only with CRLs
 * configured and sm-crypto only at a first SM2 check on this thread (the verify workers
 * check SM2). Fresh child processes, so nothing this test file imports can mask a load.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cip22Pki } from '../helpers/cip22-pki.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { runLazyChild } from './fixtures/run-lazy-child.js';

const IDENTITY_STACK = ['sm-crypto-v2', '@peculiar/asn1-schema', '@peculiar/asn1-x509'];

interface ChildOut {
  readonly packages: string[];
  readonly cip22: boolean;
  readonly scraped: number | null;
  /** The ES modules of dist/src it loaded, relative to dist/src. */
  readonly modules: string[];
}

async function runChild(args: { readonly dir: string } & Record<string, unknown>): Promise<ChildOut> {
  const { out, modules } = await runLazyChild<Omit<ChildOut, 'modules'>>(args);
  return { ...out, modules };
}

/** Code of S7, OPC UA and the DTU hub beyond their definitions (schema, errors, value types, metrics). */
const UNUSED_DRIVER_CODE =
  /^drivers\/(s7\/(?!index|config|error-codes|value-types|address)|opcua\/(?!index|config|errors|value-types|metrics)|modbus\/dtu\/(?!config|error-codes|metrics|regex-safety))/;

test('a Modbus-only agent loads no S7, OPC UA or DTU hub module beyond their definitions', async (t) => {
  const dir = tempDir('edge-agent-lazy-');
  t.after(() => dir.remove());
  const out = await runChild({ dir: dir.path, modbusPort: await freePort(), http: false });
  assert.ok(
    out.modules.includes('drivers/modbus/family.js'),
    `the recorder sees loads: ${out.modules.length}`,
  );
  assert.ok(out.modules.includes('drivers/s7/index.js'), 'the registry loads every definition');
  assert.deepEqual(
    out.modules.filter((m) => UNUSED_DRIVER_CODE.test(m)),
    [],
  );
});

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

test('with the status endpoint on and never scraped, prom-client is not loaded', async (t) => {
  const dir = tempDir('edge-agent-lazy-');
  t.after(() => dir.remove());
  const out = await runChild({ dir: dir.path, modbusPort: await freePort(), http: true });
  assert.equal(out.scraped, null);
  assert.ok(!out.packages.includes('prom-client'), `prom-client loaded: ${out.packages.join(' ')}`);
  assert.ok(!out.modules.includes('observability/metrics.js'));
});

/** A gateway on the P-256 test PKI, in a child; `withCrl`: the test PKI's CRL in cip22.crls. */
async function gatewayChild(dir: string, withCrl = false): Promise<ChildOut> {
  const pki = cip22Pki();
  const chain = join(dir, 'server-chain.pem');
  writeFileSync(
    chain,
    Buffer.concat([readFileSync(pki.p256.server.certPem), readFileSync(pki.p256.issuing.certPem)]),
  );
  return runChild({
    dir,
    modbusPort: await freePort(),
    http: true,
    scrape: true,
    cip22: {
      cert: chain,
      key: pki.p256.server.keyPem,
      roots: [pki.p256.root.certPem],
      ...(withCrl ? { crls: [pki.cases.crl] } : {}),
      port: await freePort(),
    },
  });
}

test('with CIP-22 and the status endpoint on, the gateway runs and prom-client loads at the first scrape; no CRL parser, no sm-crypto', async (t) => {
  const dir = tempDir('edge-agent-lazy-');
  t.after(() => dir.remove());
  const out = await gatewayChild(dir.path);
  assert.equal(out.cip22, true, 'the gateway started');
  assert.equal(out.scraped, 200);
  assert.ok(out.packages.includes('prom-client'), `prom-client not loaded: ${out.packages.join(' ')}`);
  assert.ok(out.modules.includes('cip22/identity/certificate.js'), 'the gateway loaded its identity code');
  for (const p of IDENTITY_STACK)
    assert.ok(!out.packages.includes(p), `${p} loaded: ${out.packages.join(' ')}`);
  assert.ok(!out.modules.includes('cip22/identity/crl.js'));
});

test('with cip22.crls configured, the CRL parser (asn1) loads; sm-crypto still does not', async (t) => {
  const dir = tempDir('edge-agent-lazy-');
  t.after(() => dir.remove());
  const out = await gatewayChild(dir.path, true);
  assert.equal(out.cip22, true, 'the gateway started');
  assert.ok(out.modules.includes('cip22/identity/crl.js'));
  for (const p of ['@peculiar/asn1-schema', '@peculiar/asn1-x509'])
    assert.ok(out.packages.includes(p), `${p} not loaded: ${out.packages.join(' ')}`);
  assert.ok(!out.packages.includes('sm-crypto-v2'), `sm-crypto-v2 loaded: ${out.packages.join(' ')}`);
});
