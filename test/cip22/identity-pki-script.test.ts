import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cip22Pki, CIP22_CERTS_SCRIPT } from '../helpers/cip22-pki.js';

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
