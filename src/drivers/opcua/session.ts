/**
 * One OPC UA client and session: endpoint security, the server certificate check (pin or
 * PKI folder), the user identity. node-opcua is imported here, on first connect, so an
 * agent without an OPC UA device never loads it. Its own reconnection (secure channel,
 * session reactivation, subscription transfer or re-creation) runs first; when it gives
 * up (close) or runs past `recreateAfterMs`, the owner drops this link and makes a new one
 * with its own backoff.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { format } from 'node:util';
import type { ClientSession, OPCUAClient, UserIdentityInfo } from 'node-opcua-client';
import type { SecretResolver } from '../../config-kit/secrets.js';
import type { Clock } from '../../core/clock.js';
import type { EdgeError } from '../../core/errors.js';
import type { Logger } from '../../core/ports.js';
import type { OpcuaDeviceConfig } from './config.js';
import { connectErrorCode, opcuaError } from './errors.js';

export type OpcuaModule = typeof import('node-opcua-client');

interface CertificateManagerLike {
  initialize(): Promise<void>;
  checkCertificate(chain: Buffer | Buffer[]): Promise<{ value: number; name: string }>;
  dispose(): Promise<void>;
}

interface Loaded {
  readonly ua: OpcuaModule;
  readonly CertificateManager: new (options: {
    rootFolder: string;
    automaticallyAcceptUnknownCertificate: boolean;
  }) => CertificateManagerLike;
}

let loading: Promise<Loaded> | undefined;

/**
 * node-opcua-pki writes OPENSSL_CONF and RANDFILE (the latter as the string "undefined")
 * into process.env when it runs openssl to make the client certificate; every child the
 * agent spawns afterwards would inherit them. Their values from before node-opcua loaded.
 */
const OPENSSL_ENV = ['OPENSSL_CONF', 'RANDFILE'] as const;
const opensslEnv = new Map(OPENSSL_ENV.map((k) => [k, process.env[k]]));

function restoreOpensslEnv(): void {
  for (const [key, value] of opensslEnv)
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
}

/**
 * node-opcua-client and its certificate manager (resolved through the client's own
 * dependency). node-opcua prints its warnings to the console; they go to the log of the
 * first device that loads it instead (process-wide: the library has one logger).
 */
export function loadOpcua(logger: Logger): Promise<Loaded> {
  loading ??= (async () => {
    const ua = await import('node-opcua-client');
    const text = (args: unknown[]): string =>
      format(...args)
        .replace(/\s+/g, ' ')
        .trim();
    ua.setWarningLogger((...args: unknown[]) => logger.debug({ lib: 'node-opcua' }, text(args)));
    ua.setErrorLogger((...args: unknown[]) => logger.warn({ lib: 'node-opcua' }, text(args)));
    const require = createRequire(import.meta.resolve('node-opcua-client'));
    const { OPCUACertificateManager } = require('node-opcua-certificate-manager') as {
      OPCUACertificateManager: Loaded['CertificateManager'];
    };
    return { ua, CertificateManager: OPCUACertificateManager };
  })();
  return loading;
}

export interface LinkEvents {
  /** The connection broke; node-opcua is reconnecting (values are unknown until `restored`). */
  lost(): void;
  /** node-opcua re-established the channel and the session (subscriptions transferred or re-created). */
  restored(): void;
  /** node-opcua gave up: this link is dead, the owner makes a new one. */
  closed(error: EdgeError): void;
}

export interface LinkDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly secrets: SecretResolver;
  readonly events: LinkEvents;
}

/** sha256 of the DER of the first certificate of a chain, lower-case hex. */
export function certificateSha256(
  ua: OpcuaModule,
  chain: Buffer | Buffer[] | undefined | null,
): string | undefined {
  const first = ua.extractFirstCertificateInChain(chain ?? null);
  return first ? createHash('sha256').update(first).digest('hex') : undefined;
}

export class OpcuaLink {
  private client: OPCUAClient | undefined;
  private manager: CertificateManagerLike | undefined;
  session: ClientSession | undefined;
  ua: OpcuaModule | undefined;
  /** Fingerprint of the certificate the server presented (what an engineer pins). */
  serverSha256: string | undefined;
  private closing = false;

  constructor(
    private readonly config: OpcuaDeviceConfig,
    private readonly deps: LinkDeps,
  ) {}

  /** Connects and creates the session; rejects with the EDGE_ERR_OPCUA_* code of the cause. */
  async open(): Promise<ClientSession> {
    try {
      return await this.openSession();
    } finally {
      restoreOpensslEnv();
    }
  }

  private async openSession(): Promise<ClientSession> {
    const { ua, CertificateManager } = await loadOpcua(this.deps.logger);
    this.ua = ua;
    const c = this.config;
    // First, and not mapped to a link code: an unresolvable secret is EDGE_ERR_CONFIG_SECRET (fatal).
    const identity = this.identity(ua);
    const manager = new CertificateManager({
      rootFolder: c.pkiDir,
      automaticallyAcceptUnknownCertificate: false,
    });
    this.manager = manager;
    await manager.initialize();
    this.pin(ua, manager);
    const client = ua.OPCUAClient.create({
      applicationName: 'edge-agent',
      clientName: `edge-agent ${c.name}`,
      endpointMustExist: false,
      securityMode: ua.MessageSecurityMode[c.security.mode],
      securityPolicy: ua.SecurityPolicy[c.security.policy],
      clientCertificateManager: manager as never,
      requestedSessionTimeout: c.sessionTimeoutMs,
      defaultTransactionTimeout: c.requestTimeoutMs,
      transportTimeout: c.connectTimeoutMs,
      keepSessionAlive: c.mode === 'poll',
      // One try at connect (the caller's backoff repeats it); the retries are node-opcua's once connected.
      connectionStrategy: { maxRetry: 1, initialDelay: c.reconnect.initialMs, maxDelay: c.reconnect.maxMs },
    });
    this.client = client;
    client.on('connection_lost', () => this.deps.events.lost());
    client.on('connection_reestablished', () => this.deps.events.restored());
    client.on('close', (err?: Error | null) => {
      if (this.closing) return;
      this.deps.events.closed(
        opcuaError(
          'EDGE_ERR_OPCUA_DISCONNECTED',
          `node-opcua closed the connection (${err?.message ?? 'no reason'})`,
          { device: c.name },
        ),
      );
    });
    try {
      await this.withTimeout(client.connect(c.endpoint), 'connect');
      this.serverSha256 = certificateSha256(ua, client.endpoint?.serverCertificate);
      const session = await this.withTimeout(client.createSession(identity), 'create session');
      this.session = session;
      return session;
    } catch (thrown) {
      await this.close();
      const code = connectErrorCode(thrown);
      const message = thrown instanceof Error ? thrown.message : String(thrown);
      throw opcuaError(code, `device ${c.name}: ${c.endpoint}: ${message}`, { device: c.name }, thrown);
    }
  }

  /** A pinned server certificate replaces the PKI check: only that certificate is accepted. */
  private pin(ua: OpcuaModule, manager: CertificateManagerLike): void {
    const pinned = this.config.security.serverCertificateSha256;
    const check = manager.checkCertificate.bind(manager);
    manager.checkCertificate = async (chain) => {
      const seen = certificateSha256(ua, chain);
      this.serverSha256 = seen;
      if (pinned === undefined) {
        const status = await check(chain);
        if (status.value !== 0)
          this.deps.logger.warn(
            { sha256: seen, status: status.name },
            'opcua server certificate not trusted (see <pkiDir>/rejected)',
          );
        return status;
      }
      if (seen === pinned) return ua.StatusCodes.Good;
      this.deps.logger.warn({ sha256: seen, pinned }, 'opcua server certificate does not match the pin');
      return ua.StatusCodes.BadCertificateUntrusted;
    };
  }

  private identity(ua: OpcuaModule): UserIdentityInfo {
    const id = this.config.identity;
    switch (id.type) {
      case 'anonymous':
        return { type: ua.UserTokenType.Anonymous };
      case 'username':
        return {
          type: ua.UserTokenType.UserName,
          userName: id.user,
          password: this.deps.secrets(id.password, `devices.${this.config.name}.identity.password`),
        };
      case 'certificate': {
        const pem = readFileSync(id.certificate, 'utf8');
        const der = /-----BEGIN/.test(pem)
          ? Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')
          : readFileSync(id.certificate);
        return {
          type: ua.UserTokenType.Certificate,
          certificateData: der,
          privateKey: this.deps.secrets(id.privateKey, `devices.${this.config.name}.identity.privateKey`),
        } as never;
      }
    }
  }

  private withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
    return withTimeout(this.deps.clock, promise, this.config.connectTimeoutMs, what);
  }

  /** True while node-opcua is in its own reconnection. */
  get reconnecting(): boolean {
    return this.client?.isReconnecting ?? false;
  }

  /** Closes the session and the client; safe to call twice. */
  async close(): Promise<void> {
    this.closing = true;
    const { client, session, manager } = this;
    this.client = undefined;
    this.session = undefined;
    this.manager = undefined;
    // A dead server answers nothing: closing is bounded so stop() always returns.
    const bounded = (p: Promise<unknown> | undefined, what: string): Promise<unknown> =>
      p
        ? withTimeout(this.deps.clock, p, this.config.requestTimeoutMs, what).catch(() => undefined)
        : Promise.resolve();
    await bounded(session?.close(true), 'close session');
    await bounded(client?.disconnect(), 'disconnect');
    await bounded(manager?.dispose(), 'dispose pki');
  }
}

/** `promise`, or a rejection naming `what` after `ms` on the clock (the promise is left to settle). */
export function withTimeout<T>(clock: Clock, promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        timer.cancel();
        resolve(value);
      },
      (error: unknown) => {
        timer.cancel();
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
