import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { checkServerIdentity } from 'node:tls';
import { join } from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { createSecretResolver } from '../../src/config-kit/secrets.js';
import { cip22Schema } from '../../src/cip22/config.js';
import { startCip22Gateway } from '../../src/cip22/gateway/start.js';
import { SimPile } from '../../src/cip22/sim/pile.js';
import { MemoryOutbox } from '../store/memory-outbox.js';
import { cip22Pki, CIP22_CERTS_SCRIPT } from '../helpers/cip22-pki.js';
import { tempDir } from '../helpers/tmp.js';

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('bash', [CIP22_CERTS_SCRIPT, ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function openssl(args: string[]): string {
  const result = spawnSync('openssl', args, { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

test('cip22-certs.sh prints its usage on --help (exit 0) and on bad use (exit 2)', () => {
  const help = run(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Usage: cip22-certs\.sh COMMAND/);
  assert.equal(run([]).status, 2);
  const bad = run(['pile', '/tmp/never-written', '--id', 'x']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--ca and --id are required/);
  assert.match(run(['root', '/tmp/never-written-root', '--alg', 'rsa']).stderr, /unknown --alg 'rsa'/);
});

test('the P-256 chain and the gateway TLS certificate pass openssl verify; the server certificate is for serverAuth on localhost', () => {
  const pki = cip22Pki();
  const chain = ['verify', '-CAfile', pki.p256.root.certPem, '-untrusted', pki.p256.issuing.certPem];
  assert.match(openssl([...chain, pki.p256.pile.certPem]), /: OK/);
  assert.match(openssl([...chain, '-purpose', 'sslserver', pki.p256.server.certPem]), /: OK/);
  const text = openssl([
    'x509',
    '-in',
    pki.p256.server.certPem,
    '-noout',
    '-ext',
    'subjectAltName,extendedKeyUsage',
  ]);
  assert.match(text, /DNS:localhost, IP Address:127\.0\.0\.1/);
  assert.match(text, /TLS Web Server Authentication/);
});

test('pile certificates carry CN = device id, CA:FALSE and digitalSignature', () => {
  const pki = cip22Pki();
  const text = openssl([
    'x509',
    '-in',
    pki.sm2.pile.certPem,
    '-noout',
    '-subject',
    '-ext',
    'basicConstraints,keyUsage',
  ]);
  assert.match(text, /CN = pile-sm2-0001/);
  assert.match(text, /CA:FALSE/);
  assert.match(text, /Digital Signature/);
});

test('docs/cip22-pki.md followed literally: a pile that pins only the root reaches the gateway (chain in tls.cert)', async (t) => {
  const dir = tempDir('edge-cip22-commission-');
  t.after(() => dir.remove());
  const at = (p: string): string => join(dir.path, p);
  const step = (args: string[]): void => assert.equal(run(args).status, 0, args.join(' '));
  // The commands of "Commissioning, step by step", P-256 hierarchy, in a temp dir.
  step(['root', at('ca/p256-root'), '--alg', 'p256', '--cn', 'ACME CIP-22 Root P-256', '--days', '30']);
  step([
    'issuing',
    at('ca/p256-issuing'),
    '--root',
    at('ca/p256-root'),
    '--cn',
    'ACME Issuing',
    '--days',
    '30',
  ]);
  step(['pile', at('out/pile-0001'), '--ca', at('ca/p256-issuing'), '--id', 'pile-0001', '--days', '30']);
  step([
    'server',
    at('out/gw'),
    '--ca',
    at('ca/p256-issuing'),
    '--cn',
    'localhost',
    '--san',
    'DNS:localhost,IP:127.0.0.1',
    '--days',
    '30',
  ]);
  // The gateway configuration the document gives.
  const config = cip22Schema.parse({
    enabled: true,
    host: '127.0.0.1',
    port: 7722,
    tls: { cert: at('out/gw.chain.pem'), key: { file: at('out/gw.key.pem') } },
    roots: [at('ca/p256-root/cert.pem')],
  });
  const outbox = new MemoryOutbox({ batchMaxLatencyMs: 5 });
  const gateway = await startCip22Gateway(
    { ...config, port: 0 },
    { clock: systemClock, logger: silentLogger, outbox, secrets: createSecretResolver() },
  );
  t.after(async () => {
    await gateway.stop();
    await outbox.close();
  });
  const port = gateway.port;
  assert.ok(port !== undefined);
  // What the document loads into the pile: its key and certificate, the issuing CA's
  // cert.der, and the root as the only TLS trust anchor.
  const pile = new SimPile({
    host: '127.0.0.1',
    port,
    ca: [readFileSync(at('ca/p256-root/cert.pem'))],
    deviceId: 'pile-0001',
    alg: 'ecdsa-p256',
    key: readFileSync(at('out/pile-0001.key.pem'), 'utf8'),
    certDer: readFileSync(at('out/pile-0001.der')),
    issuerDer: readFileSync(at('ca/p256-issuing/cert.der')),
    // The simulator skips the host name check by default; this pile does it.
    tls: { checkServerIdentity },
  });
  await pile.connect();
  assert.equal(pile.version, '2.0');
  pile.close();
});
