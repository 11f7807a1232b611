/**
 * Throwaway TLS material for tests, made with the openssl CLI: a CA, a server
 * certificate for 127.0.0.1/localhost and a client certificate, all signed by the CA.
 * Keys are EC P-256 (fast to generate) and mode 0644 so a privilege-dropping
 * mosquitto can read them. Call `remove()` in the test's cleanup.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

export interface TestCerts {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  remove: () => void;
}

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKey(cwd: string, file: string): void {
  openssl(cwd, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]);
  chmodSync(join(cwd, file), 0o644);
}

function signed(cwd: string, name: string, subject: string, ext: string): void {
  newKey(cwd, `${name}.key`);
  openssl(cwd, ['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  writeFileSync(join(cwd, `${name}.ext`), ext);
  openssl(cwd, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-sha256',
    '-extfile',
    `${name}.ext`,
  ]);
}

/** Generates a fresh CA, server and client certificate in a new temp dir. */
export function createTestCerts(cn = 'edge-agent-test-ca'): TestCerts {
  const tmp = tempDir('edge-agent-certs-');
  const cwd = tmp.path;
  newKey(cwd, 'ca.key');
  openssl(cwd, [
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-sha256',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  signed(
    cwd,
    'server',
    '/CN=localhost',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
  );
  signed(
    cwd,
    'client',
    '/CN=edge-agent-test-client',
    'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n',
  );
  return {
    dir: cwd,
    ca: join(cwd, 'ca.crt'),
    serverCert: join(cwd, 'server.crt'),
    serverKey: join(cwd, 'server.key'),
    clientCert: join(cwd, 'client.crt'),
    clientKey: join(cwd, 'client.key'),
    remove: tmp.remove,
  };
}
