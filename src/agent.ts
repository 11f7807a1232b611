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
import type { CommandChannel, DeviceDriver, Logger, OnceSink } from './core/ports.js';
import type { Cip22Gateway } from './cip22/gateway/gateway.js';
import { eventToRecord, readingToRecord } from './core/record-codec.js';
import type { AgentEvent } from './core/types.js';
import type { ProgressSample } from './host/watchdog/health-gate.js';
import type { EdgeConfig } from './config/schema.js';
import { createSecretResolver, type SecretResolver } from './config-kit/secrets.js';
import { createStatusLed, type LedDeps } from './host/led/create.js';
import type { StatusIndicator, StatusLed } from './host/led/status-led.js';
import { pollerStallMs, storeProgress } from './host/watchdog/progress.js';
import { Watchdog, watchdogParts, type WatchdogParts } from './host/watchdog/watchdog.js';
import { buildDevices, type BuiltDevice, type BuiltDevices } from './drivers/build.js';
import { FailoverDriver } from './drivers/failover/driver.js';
import { driverMetrics } from './drivers/registry.js';
import { MqttForwarder } from './forwarders/mqtt/forwarder.js';
import type { SparkplugUplink } from './forwarders/sparkplug/uplink.js';
import { startStatusServer } from './observability/http.js';
import { MemoryGuard } from './observability/memory-guard.js';
import type { AgentMetrics } from './observability/metrics.js';
import { buildAgentSnapshot } from './observability/agent-snapshot.js';
import type { AgentStatsSnapshot } from './observability/snapshot.js';
import { OtaAgentSide } from './ota/agent-side.js';
import type { Outbox } from './store/outbox.js';
import { SqliteOutbox } from './store/sqlite-outbox.js';
import type { StationPage } from './web/station.js';
import { tapSink } from './web/tap.js';
import type { ReloadTarget } from './reload/apply.js';
import { SwitchableChannel } from './reload/channel.js';

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
  /** The active config's hash and version (src/reload), for /status.json and the birth message. */
  readonly configInfo?: () => { readonly hash: string; readonly version: string | null };
}

interface PollerEntry {
  poller: DevicePoller;
  driver: string;
  instance: DeviceDriver;
  allowWrites: boolean;
  stallMs: number;
}

export interface Health {
  readonly ok: boolean;
  readonly problems: string[];
}

export class Agent {
  private config: EdgeConfig;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly secrets: SecretResolver;
  private built: BuiltDevices | undefined;
  private readonly pollers: PollerEntry[] = [];
  private readonly injectedCommands: CommandChannel | undefined;
  /** The forwarder's channel, kept across a live MQTT change (src/reload/channel.ts). */
  private readonly channel = new SwitchableChannel();
  private commands: CommandRouter | undefined;
  private outbox: Outbox | undefined;
  private forwarder: MqttForwarder | undefined;
  private sparkplug: SparkplugUplink | undefined;
  private metrics: AgentMetrics | undefined;
  private http: { port: number; close(): Promise<void> } | undefined;
  private page: StationPage | undefined;
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
      onEvent: (event) => this.emit(event),
    });
    for (const problem of this.built.problems) {
      this.logger.error({ device: problem.device, code: problem.code, path: problem.path }, problem.message);
    }
    for (const warning of this.built.warnings) this.logger.warn({ path: warning.path }, warning.message);
    for (const built of this.built.devices) this.pollers.push(this.createPoller(built));
  }

  private createPoller({ config: device, driver }: BuiltDevice): PollerEntry {
    const poller = new DevicePoller(driver, {
      clock: this.clock,
      logger: this.logger.child({ device: device.name }),
      random: this.random,
      startBackoff: device.reconnect,
      offline: this.config.agent.offline,
      spread: this.config.agent.pollSpread,
      spreadSlots: this.config.agent.pollSpreadSlots,
      report: device.report,
      onReading: (reading) => {
        this.outbox?.append(readingToRecord(reading));
        this.page?.reading(reading);
      },
      onEvent: (event) => {
        this.trackDevice(event);
        this.emit(event);
      },
    });
    const tagIntervals = driver.tags().map((tag) => tag.intervalMs);
    const stallMs = pollerStallMs(this.config.watchdog, tagIntervals, device.reconnect.maxMs);
    const allowWrites = device.commands?.allowWrites ?? this.config.commands.allowWrites;
    return { poller, driver: device.driver, instance: driver, allowWrites, stallMs };
  }

  /** The seam of live reloads (src/reload/apply.ts): device-level replace, nothing else. */
  reloadTarget(): ReloadTarget {
    return {
      config: () => this.config,
      build: (device, index) => this.built!.add(device, index),
      replace: async (remove, add, config) => {
        const gone = this.pollers.filter(({ poller }) => remove.includes(poller.device));
        await Promise.all(gone.map(({ poller }) => poller.stop()));
        // frees what only they used (a serial line, a connection) so a re-added device can open it
        for (const { instance } of gone) await this.built?.families.remove(instance);
        for (const entry of gone) this.pollers.splice(this.pollers.indexOf(entry), 1);
        for (const name of remove) this.offlineDevices.delete(name);
        this.config = config;
        const added = add.map((built) => this.createPoller(built));
        this.pollers.push(...added);
        for (const { poller } of added) poller.start();
        // The router holds driver instances: a fresh one sees the new ones (its ledger is durable).
        await this.swapCommands();
      },
      replaceForwarder: async (config) => {
        await this.forwarder?.stop();
        this.config = config;
        if (!(this.outbox instanceof SqliteOutbox)) return;
        await this.startForwarder(this.outbox);
        // a Sparkplug uplink is per forwarder: the router must take commands from the new one
        await this.swapCommands();
      },
      devices: () =>
        this.pollers.map(({ poller, instance }) => ({ stats: poller.stats(), driver: instance })),
      emit: (event) => this.emit(event),
      announce: () => this.forwarder?.announceStatus(),
      channel: () => this.commandChannel(),
      replaceCip22: async (config) => {
        await this.cip22?.stop();
        this.cip22 = undefined;
        this.config = config;
        if (config.cip22.enabled && this.outbox instanceof SqliteOutbox) await this.startCip22(this.outbox);
      },
      dtuLinks: () => this.built?.families.family('modbus'),
    };
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
    if (this.config.mqtt.url) await this.startForwarder(outbox);
    else this.logger.warn({}, 'no mqtt.url configured: records are stored, not forwarded');
    // the drivers' shared links (the DTU listener) are up before any device starts
    await this.built?.start();
    if (this.config.cip22.enabled) await this.startCip22(outbox);
    for (const { poller } of this.pollers) poller.start();
    this.startCommands(outbox);
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
      outbox: this.pageTap(outbox),
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
    await this.cip22?.stop();
    this.emit({ device: 'agent', ts: this.clock.now(), type: 'agent-stopped', severity: 'info', data: {} });
    await this.outbox
      ?.flush()
      .catch((error: unknown) => this.logger.error({ err: String(error) }, 'final flush failed'));
    await this.forwarder?.stop();
    await this.outbox?.close();
    this.memoryGuard?.stop();
    this.page?.close();
    await this.http?.close();
    await this.led?.close();
    this.state = 'stopped';
  }

  /** Where commands arrive: the injected channel, else the forwarder's MQTT one (none without `mqtt.url`). */
  commandChannel(): CommandChannel | undefined {
    return this.injectedCommands ?? (this.forwarder ? this.channel : undefined);
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
      drivers: this.built?.families.stats() ?? {},
      commandsRefused: {
        device: this.commands?.stats().refused ?? {},
        pile: this.cip22?.commandRefusals() ?? {},
        mqtt: { oversized: this.forwarder?.stats().oversizedDropped ?? 0 },
      },
      ota: this.ota?.status(),
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
        config: this.options.configInfo?.() ?? null,
      },
      health: this.health(),
      devices: this.pollers.map(({ poller, driver, instance }) => ({
        driver,
        ...poller.stats(),
        ...(instance instanceof FailoverDriver ? { source: instance.active } : {}),
        link: poller.driverStatus(),
      })),
      ...this.built?.families.status(),
      outbox: this.outbox?.stats() ?? null,
      forwarder: this.forwarder?.stats() ?? null,
      memory: this.memoryGuard?.stats() ?? null,
      watchdog: this.watchdog?.stats() ?? null,
      led: this.led?.showing() ?? null,
      commands: this.commands?.stats() ?? null,
      cip22: this.cip22?.status() ?? null,
      ota: this.ota?.status() ?? null,
    };
  }

  private async startForwarder(outbox: SqliteOutbox): Promise<void> {
    const mqttLog = this.logger.child({ component: 'mqtt' });
    // Loaded only when used: protobufjs and the .proto parse cost start-up time and RAM.
    this.sparkplug =
      this.config.mqtt.payload.format === 'sparkplug'
        ? (await import('./forwarders/sparkplug/create.js')).createSparkplugUplink(this.config, {
            clock: this.clock,
            logger: mqttLog,
            onRebirth: () => this.pollers.forEach(({ poller }) => poller.reportAll()),
          })
        : undefined;
    const forwarder = new MqttForwarder(this.config.mqtt, {
      ...(this.sparkplug ? { uplink: this.sparkplug } : {}),
      source: outbox,
      clock: this.clock,
      logger: mqttLog,
      random: this.random,
      site: this.config.agent.site,
      agentId: this.config.agent.id,
      secrets: this.secrets,
      config: this.options.configInfo,
    });
    this.forwarder = forwarder;
    const led = this.led;
    led?.set('store-and-forward', true);
    forwarder.on('connected', () => led?.set('store-and-forward', false));
    forwarder.on('disconnected', () => led?.set('store-and-forward', true));
    this.channel.switchTo(forwarder.commands);
    await forwarder.start();
  }

  private startCommands(outbox: SqliteOutbox): void {
    const channel = this.commandChannel();
    if (!channel) return;
    const targets = this.pollers.map(({ poller, instance, allowWrites }) => ({
      device: poller.device,
      driver: instance,
      allowWrites,
    }));
    this.commands = new CommandRouter(targets, this.config.commands, {
      channel: this.sparkplug && !this.injectedCommands ? this.sparkplug.commandChannel(channel) : channel,
      sink: outbox,
      clock: this.clock,
      logger: this.logger.child({ component: 'commands' }),
      ledger: this.commandLedger(outbox),
    });
    this.commands.start();
  }

  /**
   * A new command router in place of the running one. The new one subscribes before the old
   * one unsubscribes (same tick, so no message reaches both): the broker keeps every
   * `{device}/cmd` subscription, and no command published meanwhile is dropped while the old
   * one finishes the writes it accepted.
   */
  private async swapCommands(): Promise<void> {
    const previous = this.commands;
    if (this.outbox instanceof SqliteOutbox) this.startCommands(this.outbox);
    if (previous !== this.commands) await previous?.stop();
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
      outbox: this.pageTap(outbox),
      secrets: this.secrets,
      commands: this.commandChannel(),
      commandOptions: {
        ledger: this.commandLedger(outbox),
        policy: { requireExpiry, maxAgeMs, clockSkewMs },
        maxPayloadBytes,
      },
    });
  }

  /** The outbox as parts that store their own records see it: the station page sees them too. */
  private pageTap(outbox: SqliteOutbox): OnceSink {
    return this.page ? tapSink(outbox, (record) => this.page?.record(record)) : outbox;
  }

  private emit(event: AgentEvent): void {
    const record = eventToRecord(event);
    this.outbox?.append(record);
    this.page?.record(record);
  }

  private async startHttp(): Promise<void> {
    // prom-client is loaded only with the status endpoint that serves it.
    const { createMetrics } = await import('./observability/metrics.js');
    this.metrics = createMetrics(() => this.snapshot(), { driverMetrics: driverMetrics() });
    const metrics = this.metrics;
    const { createStationPage } = await import('./web/station.js');
    this.page = createStationPage({
      http: this.config.http,
      secrets: this.secrets,
      status: () => this.status(),
      version: this.options.ota?.version,
      brokerUrl: this.config.mqtt.url,
      clock: this.clock,
      logger: this.logger,
    });
    const page = this.page;
    this.http = await startStatusServer(
      { host: this.config.http.host, port: this.config.http.port, front: page.front },
      { metrics: () => metrics.metrics(), health: () => this.health(), status: () => this.status() },
      this.logger,
    ).catch((error: unknown) => {
      page.close();
      throw error;
    });
  }
}
