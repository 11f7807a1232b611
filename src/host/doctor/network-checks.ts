/** Doctor checks of the way out: broker reachability (TCP or TLS 1.3) and certificate expiry. */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { EdgeConfig } from '../../config/schema.js';
import { createSecretResolver, type SecretResolver } from '../../config-kit/secrets.js';
import { driverHostNeeds } from '../../drivers/registry.js';
import { fail, ok, warn, type CheckResult, type DoctorEnv } from './env.js';

const DAY = 86_400_000;
const TLS_SCHEMES = new Set(['mqtts:', 'tls:', 'wss:']);

export async function checkBroker(
  config: EdgeConfig,
  env: DoctorEnv,
  secrets: SecretResolver = createSecretResolver(),
): Promise<CheckResult[]> {
  const url = config.mqtt.url;
  if (!url)
    return [
      warn('broker', 'no mqtt.url: records are stored, never forwarded', 'set mqtt.url (mqtts://host:8883)'),
    ];
  const u = new URL(url);
  const secure = TLS_SCHEMES.has(u.protocol);
  const host = u.hostname;
  const port = Number(u.port || (secure ? 8883 : 1883));
  const where = `${host}:${port}`;
  try {
    if (!secure) {
      await connectTcp(host, port, env.timeoutMs);
      return [
        warn(
          'broker',
          `${where} reachable over plain TCP (no TLS)`,
          'use mqtts:// with mqtt.tls (TLS 1.3) outside a lab',
        ),
      ];
    }
    const tls = config.mqtt.tls;
    const options: ConnectionOptions = {
      host,
      port,
      servername: tls?.servername ?? (/^[\d.]+$/.test(host) ? undefined : host),
      minVersion: 'TLSv1.3',
      rejectUnauthorized: tls?.rejectUnauthorized ?? true,
      ca: tls?.ca ? await readFile(tls.ca) : undefined,
      cert: tls?.cert ? await readFile(tls.cert) : undefined,
      key: tls?.key ? secrets(tls.key, 'mqtt.tls.key') : undefined,
    };
    const version = await connectTls(options, env.timeoutMs);
    return [ok('broker', `${where} reachable, ${version}, certificate verified`)];
  } catch (err) {
    return [
      fail(
        'broker',
        `${where}: ${(err as Error).message}`,
        secure
          ? 'check the network/firewall (port open?), the CA in mqtt.tls.ca, the hostname, and that the broker offers TLS 1.3'
          : 'check the network/firewall and that the broker listens',
      ),
    ];
  }
}

function connectTcp(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => (socket.destroy(), resolve()));
    socket.once(
      'timeout',
      () => (socket.destroy(), reject(new Error(`no TCP connection within ${timeoutMs} ms`))),
    );
    socket.once('error', (err: Error) => (socket.destroy(), reject(err)));
  });
}

function connectTls(options: ConnectionOptions, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ ...options, timeout: timeoutMs });
    socket.once('secureConnect', () => {
      const version = socket.getProtocol() ?? 'TLS';
      socket.destroy();
      resolve(version);
    });
    socket.once(
      'timeout',
      () => (socket.destroy(), reject(new Error(`no TLS handshake within ${timeoutMs} ms`))),
    );
    socket.once('error', (err: Error) => (socket.destroy(), reject(err)));
  });
}

/** Certificate files the config names: (label, path). Other areas (CIP-22) add theirs here. */
export function certificateFiles(config: EdgeConfig): Array<{ label: string; path: string }> {
  const files: Array<{ label: string; path: string }> = [];
  if (config.mqtt.tls?.ca) files.push({ label: 'mqtt.tls.ca', path: config.mqtt.tls.ca });
  if (config.mqtt.tls?.cert) files.push({ label: 'mqtt.tls.cert', path: config.mqtt.tls.cert });
  files.push(...driverHostNeeds(config.devices).certificates);
  return files;
}

export async function checkCertificates(
  config: EdgeConfig,
  env: DoctorEnv,
  warnDays = 30,
): Promise<CheckResult[]> {
  const files = certificateFiles(config);
  if (files.length === 0) return [ok('certificates', 'no certificate files configured')];
  const results: CheckResult[] = [];
  for (const { label, path } of files) {
    const check = `certificate ${label}`;
    let pems: string[];
    try {
      pems =
        (await readFile(path, 'utf8')).match(
          /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g,
        ) ?? [];
    } catch (err) {
      results.push(
        fail(
          check,
          `${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
          `fix the path in ${label}`,
        ),
      );
      continue;
    }
    if (pems.length === 0) {
      results.push(fail(check, `${path} holds no PEM certificate`, `point ${label} at a PEM file`));
      continue;
    }
    for (const pem of pems) results.push(expiry(check, path, new X509Certificate(pem), env.now(), warnDays));
  }
  return results;
}

function expiry(
  check: string,
  path: string,
  cert: X509Certificate,
  now: number,
  warnDays: number,
): CheckResult {
  const subject = cert.subject.replace(/\n/g, ', ');
  const to = Date.parse(cert.validTo);
  const from = Date.parse(cert.validFrom);
  const days = Math.floor((to - now) / DAY);
  if (now < from)
    return fail(
      check,
      `${subject} (${path}) is not valid before ${cert.validFrom}: the clock is wrong or the certificate is new`,
      'check the clock (NTP) first',
    );
  if (to <= now)
    return fail(check, `${subject} (${path}) expired ${cert.validTo}`, 'renew the certificate and deploy it');
  if (days < warnDays)
    return warn(
      check,
      `${subject} (${path}) expires in ${days} days (${cert.validTo})`,
      'renew the certificate before it expires',
    );
  return ok(check, `${subject} valid for ${days} more days`);
}
