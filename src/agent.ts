/**
 * The agent: wires drivers → pollers → outbox → forwarder, plus the status endpoint and
 * the memory guard. Start order opens the store first (nothing is read before it can be
 * kept); stop order keeps every accepted record: pollers stop, the outbox flushes, the
 * forwarder finishes its in-flight window, the outbox closes.
 */
import type { Clock } from './core/clock.js';
import { systemClock } from './core/clock.js';
import { EdgeError } from './core/errors.js';
import { DevicePoller } from './core/poller.js';
import type { CommandChannel, DeviceDriver, Logger } from './core/ports.js';
import { readFileSync } from 'node:fs';
import { Cip22Gateway } from './cip22/gateway/gateway.js';
import { loadRoots } from './cip22/identity/index.js';
import { eventToRecord, readingToRecord } from './core/record-codec.js';
import type { AgentEvent } from './core/types.js';
import type { EdgeConfig } from './config/schema.js';
import { createSecretResolver, type SecretResolver } from './config/secrets.js';
import { DtuHub } from './drivers/modbus/dtu/hub.js';
import { driverRegistry, type DeviceConfig } from './drivers/registry.js';
import type { DriverDeps, DriverFamily } from './drivers/types.js';
import { MqttForwarder } from './forwarders/mqtt/forwarder.js';
import { startStatusServer } from './observability/http.js';
import { MemoryGuard } from './observability/memory-guard.js';
import { createMetrics, type AgentMetrics } from './observability/metrics.js';
import type { AgentStatsSnapshot } from './observability/snapshot.js';
import type { Outbox } from './store/outbox.js';
import { SqliteOutbox } from './store/sqlite-outbox.js';

export interface AgentOptions {
  readonly config: EdgeConfig;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly secrets?: SecretResolver;
  /** MQTT command path (pile commands); without it CIP-22 commands are not received. */
  readonly commands?: CommandChannel;
}

export interface Health {
  readonly ok: boolean;
  readonly problems: string[];
}

type AnyFamily = DriverFamily<DeviceConfig>;

export class Agent {
  private readonly config: EdgeConfig;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly secrets: SecretResolver;
  private readonly families = new Map<string, AnyFamily>();
  private readonly dtuHub: DtuHub | undefined;
  private readonly pollers: Array<{ poller: DevicePoller; driver: string }> = [];
  private outbox: Outbox | undefined;
  private forwarder: MqttForwarder | undefined;
  private metrics: AgentMetrics | undefined;
  private http: { port: number; close(): Promise<void> } | undefined;
  private memoryGuard: MemoryGuard | undefined;
  private cip22: Cip22Gateway | undefined;
  private readonly commands: CommandChannel | undefined;
  private readonly startedAt: number;
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(options: AgentOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.secrets = options.secrets ?? createSecretResolver();
    this.commands = options.commands;
    this.startedAt = this.clock.now();
    this.dtuHub = this.config.dtu ? new DtuHub(this.config.dtu, { clock: this.clock, logger: this.logger.child({ component: 'dtu' }), random: this.random }) : undefined;
    this.createDrivers();
  }

  /** init() of every driver: validates, no I/O. Throws the first fatal config error. */
  private createDrivers(): void {
    const deps: DriverDeps = { clock: this.clock, logger: this.logger, random: this.random, dtu: this.dtuHub };
    for (const device of this.config.devices) {
      let family = this.families.get(device.driver);
      if (!family) {
        const definition = driverRegistry[device.driver];
        if (!definition) throw new EdgeError('EDGE_ERR_DRIVER_UNKNOWN', `devices: unknown driver "${device.driver}"`, { context: { device: device.name } });
        family = definition.createFamily({ ...deps, logger: this.logger.child({ driver: device.driver }) }) as AnyFamily;
        this.families.set(device.driver, family);
      }
      const driver: DeviceDriver = family.create(device);
      driver.init();
      const poller = new DevicePoller(driver, {
        clock: this.clock,
        logger: this.logger.child({ device: device.name }),
        random: this.random,
        startBackoff: device.reconnect,
        onReading: (reading) => this.outbox?.append(readingToRecord(reading)),
        onEvent: (event) => this.emit(event),
      });
      this.pollers.push({ poller, driver: device.driver });
    }
  }

  private starting: Promise<void> | undefined;

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`agent already ${this.state}`);
    this.state = 'starting';
    this.starting = this.startParts();
    await this.starting;
  }

  private async startParts(): Promise<void> {
    const outbox = SqliteOutbox.open(this.config.store, { clock: this.clock, logger: this.logger });
    this.outbox = outbox;
    const recovered = outbox.takeRecoveryEvent();
    if (recovered) this.emit(recovered);
    this.emit({ device: 'agent', ts: this.clock.now(), type: 'agent-started', severity: 'info', data: { devices: this.pollers.length } });
    if (this.config.http.enabled) await this.startHttp();
    this.memoryGuard = new MemoryGuard(this.config.memory, { clock: this.clock, logger: this.logger });
    this.memoryGuard.start();
    if (this.config.mqtt.url) {
      this.forwarder = new MqttForwarder(this.config.mqtt, {
        source: outbox,
        clock: this.clock,
        logger: this.logger.child({ component: 'mqtt' }),
        random: this.random,
        site: this.config.agent.site,
        agentId: this.config.agent.id,
        secrets: this.secrets,
      });
      await this.forwarder.start();
    } else {
      this.logger.warn({}, 'no mqtt.url configured: records are stored, not forwarded');
    }
    await this.dtuHub?.start();
    if (this.config.cip22.enabled) await this.startCip22(outbox);
    for (const { poller } of this.pollers) poller.start();
    this.state = 'running';
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    // A stop that arrives during start-up waits for it, then undoes all of it.
    await this.starting?.catch(() => undefined);
    this.state = 'stopping';
    await Promise.all(this.pollers.map(({ poller }) => poller.stop()));
    await Promise.all([...this.families.values()].map((family) => family.close()));
    await this.dtuHub?.stop();
    await this.cip22?.stop();
    this.emit({ device: 'agent', ts: this.clock.now(), type: 'agent-stopped', severity: 'info', data: {} });
    await this.outbox?.flush().catch((error: unknown) => this.logger.error({ err: String(error) }, 'final flush failed'));
    await this.forwarder?.stop();
    await this.outbox?.close();
    this.memoryGuard?.stop();
    await this.http?.close();
    this.state = 'stopped';
  }

  httpAddress(): string | undefined {
    return this.http ? `${this.config.http.host}:${this.http.port}` : undefined;
  }

  health(): Health {
    const problems: string[] = [];
    const store = this.outbox?.stats();
    if (!store) problems.push('store: not open');
    else if (!store.healthy) problems.push(`store: ${store.lastError ?? 'commit failing'}`);
    const fwd = this.forwarder?.stats();
    if (fwd && !fwd.connected) problems.push(`mqtt: not connected${fwd.lastError ? ` (${fwd.lastError})` : ''}`);
    if (this.state !== 'running') problems.push(`agent: ${this.state}`);
    return { ok: problems.length === 0, problems };
  }

  snapshot(): AgentStatsSnapshot {
    const store = this.outbox?.stats();
    const fwd = this.forwarder?.stats();
    const memory = this.memoryGuard?.stats();
    return {
      devices: this.pollers.map(({ poller, driver }) => {
        const s = poller.stats();
        return { device: s.device, driver, polls: s.polls, pollErrors: s.pollErrors, errorsByCode: s.errorsByCode, online: s.state === 'online', lastPollTs: s.lastPollTs };
      }),
      outbox: {
        rows: store?.rows ?? 0,
        bytes: store?.bytes ?? 0,
        oldestTs: store?.oldestTs ?? null,
        committedTotal: store?.committedTotal ?? 0,
        evictedTelemetry: store?.evicted.telemetry ?? 0,
        evictedEvents: store?.evicted.event ?? 0,
        walBytes: store?.walBytes ?? 0,
        checkpoints: store?.checkpoints ?? 0,
        healthy: store?.healthy ?? false,
      },
      forwarder: {
        enabled: this.forwarder !== undefined,
        connected: fwd?.connected ?? false,
        publishedRecords: fwd?.publishedRecords ?? 0,
        publishedMessages: fwd?.publishedMessages ?? 0,
        inflightMessages: fwd?.inflightMessages ?? 0,
        reconnects: fwd?.reconnects ?? 0,
        lastPubackLatencyMs: fwd?.lastPubackLatencyMs ?? null,
        errorsByCode: fwd?.errorsByCode ?? {},
      },
      memory: { heapOverLimitTotal: memory?.heapOverLimitTotal ?? 0, snapshotsWritten: memory?.snapshotsWritten ?? 0 },
      dtus: Object.entries(this.dtuHub?.status() ?? {}).map(([dtu, d]) => ({
        dtu,
        up: d.up,
        bytesIn: d.bytesIn,
        bytesOut: d.bytesOut,
        heartbeats: d.heartbeats,
        timeouts: d.timeouts,
        crcErrors: d.crcErrors,
        garbageBytes: d.garbageBytes,
        registrations: d.registrations,
        livenessCloses: d.livenessCloses,
      })),
      dtuUnknownRegistrations: this.dtuHub?.serverStatus().unknownRegistrations ?? 0,
    };
  }

  /** The /status.json document: what a field engineer looks at first. */
  status(): Record<string, unknown> {
    return {
      agent: { id: this.config.agent.id, site: this.config.agent.site, state: this.state, uptimeMs: this.clock.now() - this.startedAt },
      health: this.health(),
      devices: this.pollers.map(({ poller, driver }) => ({ driver, ...poller.stats(), link: poller.driverStatus() })),
      dtu: this.dtuHub ? { server: this.dtuHub.serverStatus(), links: this.dtuHub.status() } : null,
      outbox: this.outbox?.stats() ?? null,
      forwarder: this.forwarder?.stats() ?? null,
      memory: this.memoryGuard?.stats() ?? null,
      cip22: this.cip22?.status() ?? null,
    };
  }

  /** The CIP-22 gateway (config.cip22.enabled): stopped before the outbox closes. */
  private async startCip22(outbox: Outbox): Promise<void> {
    const c = this.config.cip22;
    const tls = c.tls;
    if (!tls || !c.host) throw new EdgeError('EDGE_ERR_CONFIG_INVALID', 'cip22: host and tls are required when enabled');
    const read = (path: string, field: string): Buffer => {
      try {
        return readFileSync(path);
      } catch (e) {
        throw new EdgeError('EDGE_ERR_CONFIG_READ', `${field}: cannot read ${path}: ${(e as Error).message}`, { cause: e, context: { field } });
      }
    };
    this.cip22 = new Cip22Gateway(c, {
      clock: this.clock,
      logger: this.logger.child({ component: 'cip22' }),
      outbox,
      roots: loadRoots(c.roots.map((p, i) => read(p, `cip22.roots[${i}]`))),
      tls: { cert: read(tls.cert, 'cip22.tls.cert'), key: this.secrets(tls.key, 'cip22.tls.key') },
      commands: this.commands,
    });
    await this.cip22.start();
  }

  private emit(event: AgentEvent): void {
    this.outbox?.append(eventToRecord(event));
  }

  private async startHttp(): Promise<void> {
    this.metrics = createMetrics(() => this.snapshot());
    const metrics = this.metrics;
    this.http = await startStatusServer(
      { host: this.config.http.host, port: this.config.http.port },
      { metrics: () => metrics.metrics(), health: () => this.health(), status: () => this.status() },
      this.logger,
    );
  }
}
