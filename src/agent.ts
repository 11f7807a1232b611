/**
 * The agent: wires drivers → pollers → outbox → forwarder, plus the status endpoint and
 * the memory guard. Start order opens the store first (nothing is read before it can be
 * kept); stop order keeps every accepted record: pollers stop, the outbox flushes, the
 * forwarder finishes its in-flight window, the outbox closes.
 */
import type { Clock } from './core/clock.js';
import { systemClock } from './core/clock.js';
import type { CommandLedger } from './core/command-guard.js';
import { CommandRouter } from './core/command-router.js';
import { DevicePoller } from './core/poller.js';
import type { CommandChannel, DeviceDriver, Logger } from './core/ports.js';
import type { Cip22Gateway } from './cip22/gateway/gateway.js';
import { eventToRecord, readingToRecord } from './core/record-codec.js';
import type { AgentEvent } from './core/types.js';
import type { ProgressSample } from './device/watchdog/health-gate.js';
import type { EdgeConfig } from './config/schema.js';
import { createSecretResolver, type SecretResolver } from './config/secrets.js';
import { createStatusLed, type LedDeps } from './device/led/create.js';
import type { StatusIndicator, StatusLed } from './device/led/status-led.js';
import { pollerStallMs, storeProgress } from './device/watchdog/progress.js';
import { Watchdog, watchdogParts, type WatchdogParts } from './device/watchdog/watchdog.js';
import { buildDevices, type BuiltDevices } from './drivers/build.js';
import { FailoverDriver } from './drivers/failover/driver.js';
import { DtuHub } from './drivers/modbus/dtu/hub.js';
import { MqttForwarder } from './forwarders/mqtt/forwarder.js';
import { startStatusServer } from './observability/http.js';
import { MemoryGuard } from './observability/memory-guard.js';
import type { AgentMetrics } from './observability/metrics.js';
import { buildAgentSnapshot } from './observability/agent-snapshot.js';
import type { AgentStatsSnapshot } from './observability/snapshot.js';
import { OtaAgentSide } from './ota/agent-side.js';
import type { Outbox } from './store/outbox.js';
import { SqliteOutbox } from './store/sqlite-outbox.js';

export interface AgentOptions {
  readonly config: EdgeConfig;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly secrets?: SecretResolver;
  /** Watchdog mode and sink/device; default from config and the environment (tests inject fakes). */
  readonly watchdog?: WatchdogParts;
  /** onoff loader for the gpio LED backend (tests inject a fake Gpio). */
  readonly loadGpio?: LedDeps['loadGpio'];
  /** Where commands arrive (device writes, signed OTA); default: the MQTT forwarder's channel. */
  readonly commandChannel?: CommandChannel;
  /** OTA: the running version (default: package.json) and how to restart into a switched release. */
  readonly ota?: { readonly version?: string; readonly restart?: (reason: string) => void };
}

export interface Health {
  readonly ok: boolean;
  readonly problems: string[];
}

export class Agent {
  private readonly config: EdgeConfig;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly secrets: SecretResolver;
  private built: BuiltDevices | undefined;
  private readonly dtuHub: DtuHub | undefined;
  private readonly pollers: Array<{
    poller: DevicePoller;
    driver: string;
    instance: DeviceDriver;
    allowWrites: boolean;
    stallMs: number;
  }> = [];
  private readonly injectedCommands: CommandChannel | undefined;
  private commands: CommandRouter | undefined;
  private outbox: Outbox | undefined;
  private forwarder: MqttForwarder | undefined;
  private metrics: AgentMetrics | undefined;
  private http: { port: number; close(): Promise<void> } | undefined;
  private memoryGuard: MemoryGuard | undefined;
  private watchdog: Watchdog | undefined;
  private led: StatusLed | undefined;
  private readonly offlineDevices = new Set<string>();
  private readonly options: AgentOptions;
  private ota: OtaAgentSide | undefined;
  private cip22: Cip22Gateway | undefined;
  private readonly startedAt: number;
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(options: AgentOptions) {
    this.options = options;
    this.config = options.config;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.secrets = options.secrets ?? createSecretResolver();
    this.injectedCommands = options.commandChannel;
    this.startedAt = this.clock.now();
    this.dtuHub = this.config.dtu
      ? new DtuHub(this.config.dtu, {
          clock: this.clock,
          logger: this.logger.child({ component: 'dtu' }),
          random: this.random,
        })
      : undefined;
    this.createDrivers();
  }

  /**
   * Builds and init()s every driver (validates, no I/O) with the same function check-config
   * uses. A device its driver refuses does not stop the agent: it is logged, and its poller
   * parks it offline with the refusal's code while the others run.
   */
  private createDrivers(): void {
    this.built = buildDevices(this.config, {
      clock: this.clock,
      logger: this.logger,
      random: this.random,
      dtu: this.dtuHub,
      onEvent: (event) => this.emit(event),
    });
    for (const problem of this.built.problems) {
      this.logger.error({ device: problem.device, code: problem.code, path: problem.path }, problem.message);
    }
    for (const warning of this.built.warnings) this.logger.warn({ path: warning.path }, warning.message);
    for (const { config: device, driver } of this.built.devices) {
      const poller = new DevicePoller(driver, {
        clock: this.clock,
        logger: this.logger.child({ device: device.name }),
        random: this.random,
        startBackoff: device.reconnect,
        offline: this.config.agent.offline,
        spread: this.config.agent.pollSpread,
        report: device.report,
        onReading: (reading) => this.outbox?.append(readingToRecord(reading)),
        onEvent: (event) => {
          this.trackDevice(event);
          this.emit(event);
        },
      });
      const stallMs = pollerStallMs(
        this.config.watchdog,
        driver.tags().map((tag) => tag.intervalMs),
        device.reconnect.maxMs,
      );
      const allowWrites = device.commands?.allowWrites ?? this.config.commands.allowWrites;
      this.pollers.push({ poller, driver: device.driver, instance: driver, allowWrites, stallMs });
    }
  }

  private starting: Promise<void> | undefined;

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`agent already ${this.state}`);
    this.state = 'starting';
    this.starting = this.startParts();
    try {
      await this.starting;
    } catch (error) {
      // Fatal start: show it, and leave the LED to the kernel so it outlives the process.
      this.led?.set('fatal', true);
      await this.led?.close();
      throw error;
    }
  }

  /** The status LED, for parts that signal through it (OTA: `set('ota', true)`). */
  statusIndicator(): StatusIndicator {
    return this.led ?? { set: () => undefined };
  }

  private async startParts(): Promise<void> {
    this.led = await createStatusLed(this.config.led, {
      clock: this.clock,
      logger: this.logger,
      loadGpio: this.options.loadGpio,
    });
    this.led.set('booting', true);
    const outbox = SqliteOutbox.open(this.config.store, { clock: this.clock, logger: this.logger });
    this.outbox = outbox;
    const recovered = outbox.takeRecoveryEvent();
    if (recovered) this.emit(recovered);
    this.emit({
      device: 'agent',
      ts: this.clock.now(),
      type: 'agent-started',
      severity: 'info',
      data: { devices: this.pollers.length },
    });
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
      const led = this.led;
      led.set('store-and-forward', true);
      this.forwarder.on('connected', () => led.set('store-and-forward', false));
      this.forwarder.on('disconnected', () => led.set('store-and-forward', true));
      await this.forwarder.start();
    } else {
      this.logger.warn({}, 'no mqtt.url configured: records are stored, not forwarded');
    }
    await this.dtuHub?.start();
    if (this.config.cip22.enabled) await this.startCip22(outbox);
    for (const { poller } of this.pollers) poller.start();
    const channel = this.commandChannel();
    if (channel) {
      const targets = this.pollers.map(({ poller, instance, allowWrites }) => ({
        device: poller.device,
        driver: instance,
        allowWrites,
      }));
      this.commands = new CommandRouter(targets, this.config.commands, {
        channel,
        sink: outbox,
        clock: this.clock,
        logger: this.logger.child({ component: 'commands' }),
        ledger: this.commandLedger(outbox),
      });
      this.commands.start();
    }
    this.state = 'running';
    this.led.set('booting', false);
    this.led.set('online', true);
    const log = this.logger;
    this.watchdog = new Watchdog(
      this.config.watchdog,
      this.options.watchdog ?? watchdogParts(this.config.watchdog, { clock: this.clock, logger: log }),
      {
        clock: this.clock,
        logger: log,
        sample: () => this.progress(),
      },
    );
    await this.watchdog.start(`running: ${this.pollers.length} devices`);
    this.ota = new OtaAgentSide(this.config, {
      outbox,
      clock: this.clock,
      logger: this.logger.child({ component: 'ota' }),
      channel: this.commandChannel(),
      version: this.options.ota?.version,
      restart: this.options.ota?.restart,
      health: () => this.trialHealth(),
      onActive: (active) => this.led?.set('ota', active),
    });
    await this.ota.start();
  }

  /** What the watchdog's health gate judges: store commits and poll-loop steps. */
  private progress(): Omit<ProgressSample, 'loopLagMs'> {
    return {
      store: storeProgress(this.outbox?.stats()),
      pollers: this.pollers.map(({ poller, stallMs }) => {
        const s = poller.stats();
        return { device: s.device, steps: s.steps, parked: s.parked, stallMs };
      }),
    };
  }

  private trackDevice(event: AgentEvent): void {
    if (event.type === 'device-offline') this.offlineDevices.add(event.device);
    else if (event.type === 'device-online') this.offlineDevices.delete(event.device);
    else return;
    this.led?.set('device-fault', this.offlineDevices.size > 0);
  }

  /** What a release on trial must show to be committed (docs/ota.md). */
  private trialHealth(): Health {
    const problems = this.health().problems.filter(
      (p) => !(p.startsWith('mqtt:') && this.config.ota.brokerOptional),
    );
    return { ok: problems.length === 0, problems };
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    // A stop that arrives during start-up waits for it, then undoes all of it.
    await this.starting?.catch(() => undefined);
    this.state = 'stopping';
    await this.watchdog?.stop();
    this.ota?.stop();
    await this.commands?.stop();
    await Promise.all(this.pollers.map(({ poller }) => poller.stop()));
    await this.built?.close();
    await this.dtuHub?.stop();
    await this.cip22?.stop();
    this.emit({ device: 'agent', ts: this.clock.now(), type: 'agent-stopped', severity: 'info', data: {} });
    await this.outbox
      ?.flush()
      .catch((error: unknown) => this.logger.error({ err: String(error) }, 'final flush failed'));
    await this.forwarder?.stop();
    await this.outbox?.close();
    this.memoryGuard?.stop();
    await this.http?.close();
    await this.led?.close();
    this.state = 'stopped';
  }

  /** Where commands arrive: the injected channel, else the forwarder's MQTT one (none without `mqtt.url`). */
  commandChannel(): CommandChannel | undefined {
    return this.injectedCommands ?? this.forwarder?.commands;
  }

  /** Settles when a release on trial is decided ('committed', 'rolled-back', …); tests await it. */
  otaTrialOutcome(): Promise<string> {
    return this.ota?.trialOutcome ?? Promise.resolve('not-started');
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
    if (fwd && !fwd.connected)
      problems.push(`mqtt: not connected${fwd.lastError ? ` (${fwd.lastError})` : ''}`);
    if (this.state !== 'running') problems.push(`agent: ${this.state}`);
    return { ok: problems.length === 0, problems };
  }

  snapshot(): AgentStatsSnapshot {
    return buildAgentSnapshot({
      devices: this.pollers,
      store: this.outbox?.stats(),
      forwarder: this.forwarder?.stats(),
      forwarderEnabled: this.forwarder !== undefined,
      memory: this.memoryGuard?.stats(),
      dtus: this.dtuHub?.status() ?? {},
      dtuUnknownRegistrations: this.dtuHub?.serverStatus().unknownRegistrations ?? 0,
      commandsRefused: {
        device: this.commands?.stats().refused ?? {},
        pile: this.cip22?.commandRefusals() ?? {},
        mqtt: { oversized: this.forwarder?.stats().oversizedDropped ?? 0 },
      },
    });
  }

  /** The /status.json document: what a field engineer looks at first. */
  status(): Record<string, unknown> {
    return {
      agent: {
        id: this.config.agent.id,
        site: this.config.agent.site,
        state: this.state,
        uptimeMs: this.clock.now() - this.startedAt,
      },
      health: this.health(),
      devices: this.pollers.map(({ poller, driver, instance }) => ({
        driver,
        ...poller.stats(),
        ...(instance instanceof FailoverDriver ? { source: instance.active } : {}),
        link: poller.driverStatus(),
      })),
      dtu: this.dtuHub ? { server: this.dtuHub.serverStatus(), links: this.dtuHub.status() } : null,
      outbox: this.outbox?.stats() ?? null,
      forwarder: this.forwarder?.stats() ?? null,
      memory: this.memoryGuard?.stats() ?? null,
      watchdog: this.watchdog?.stats() ?? null,
      led: this.led?.showing() ?? null,
      commands: this.commands?.stats() ?? null,
      cip22: this.cip22?.status() ?? null,
    };
  }

  /** Command ids kept in the store across restarts (tag writes and pile commands alike). */
  private commandLedger(outbox: SqliteOutbox): CommandLedger {
    const { seenTtlMs, maxSeenIds, maxAgeMs, clockSkewMs } = this.config.commands;
    // An id is kept for room at least as long as a copy of its command can still be valid.
    return outbox.commandLedger({ seenTtlMs, maxKeys: maxSeenIds, protectMs: maxAgeMs + 2 * clockSkewMs });
  }

  /** The CIP-22 gateway (config.cip22.enabled): stopped before the outbox closes. */
  private async startCip22(outbox: SqliteOutbox): Promise<void> {
    const { requireExpiry, maxAgeMs, clockSkewMs, maxPayloadBytes } = this.config.commands;
    // Loaded on demand: the identity stack (asn1, sm-crypto) costs memory a station without piles never uses.
    const { startCip22Gateway } = await import('./cip22/gateway/start.js');
    this.cip22 = await startCip22Gateway(this.config.cip22, {
      clock: this.clock,
      logger: this.logger.child({ component: 'cip22' }),
      outbox,
      secrets: this.secrets,
      commands: this.commandChannel(),
      commandOptions: {
        ledger: this.commandLedger(outbox),
        policy: { requireExpiry, maxAgeMs, clockSkewMs },
        maxPayloadBytes,
      },
    });
  }

  private emit(event: AgentEvent): void {
    this.outbox?.append(eventToRecord(event));
  }

  private async startHttp(): Promise<void> {
    // prom-client is loaded only with the status endpoint that serves it.
    const { createMetrics } = await import('./observability/metrics.js');
    this.metrics = createMetrics(() => this.snapshot());
    const metrics = this.metrics;
    this.http = await startStatusServer(
      { host: this.config.http.host, port: this.config.http.port },
      { metrics: () => metrics.metrics(), health: () => this.health(), status: () => this.status() },
      this.logger,
    );
  }
}
