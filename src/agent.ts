/**
 * The agent: wires drivers → pollers → outbox → forwarder, plus the status endpoint and
 * the memory guard. Start order opens the store first (nothing is read before it can be
 * kept); stop order keeps every accepted record: pollers stop, the outbox flushes, the
 * forwarder finishes its in-flight window, the outbox closes.
 */
import { systemClock, type Clock } from './core/clock.js';
import type { CommandChannel, Logger, OnceSink } from './core/ports.js';
import { eventToRecord, TelemetryEncoder } from './core/record-codec.js';
import type { AgentEvent } from './core/types.js';
import type { ProgressSample } from './host/watchdog/health-gate.js';
import type { EdgeConfig } from './config/schema.js';
import { createSecretResolver, type SecretResolver } from './config-kit/secrets.js';
import { createStatusLed, type LedDeps } from './host/led/create.js';
import type { StatusIndicator, StatusLed } from './host/led/status-led.js';
import { storeProgress } from './host/watchdog/progress.js';
import { Watchdog, watchdogParts, type WatchdogParts } from './host/watchdog/watchdog.js';
import { DeviceSet, type PollerEntry } from './agent-devices.js';
import { startAgentHttp, type AgentHttp } from './agent-http.js';
import { Uplinks } from './agent-uplinks.js';
import { MemoryGuard } from './observability/memory-guard.js';
import { agentHealth, buildAgentSnapshot, type Health } from './observability/agent-snapshot.js';
import type { AgentStatsSnapshot } from './observability/snapshot.js';
import { OtaAgentSide } from './ota/agent-side.js';
import { SqliteOutbox } from './store/sqlite-outbox.js';
import { tapSink } from './web/tap.js';
import type { ReloadTarget } from './reload/apply.js';

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

export type { Health } from './observability/agent-snapshot.js';

export class Agent {
  private config: EdgeConfig;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly secrets: SecretResolver;
  /** Built at start (a driver's modules load only when the config uses it). */
  private devices: DeviceSet | undefined;
  /** Forwarder, command router and CIP-22 gateway. */
  private readonly uplinks: Uplinks;
  private outbox: SqliteOutbox | undefined;
  /** Telemetry bodies, each device's body object reused between its readings. */
  private readonly bodies = new TelemetryEncoder();
  private http: AgentHttp | undefined;
  private memoryGuard: MemoryGuard | undefined;
  private watchdog: Watchdog | undefined;
  private led: StatusLed | undefined;
  private readonly options: AgentOptions;
  private ota: OtaAgentSide | undefined;
  private readonly startedAt: number;
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(options: AgentOptions) {
    this.options = options;
    this.config = options.config;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.secrets = options.secrets ?? createSecretResolver();
    this.startedAt = this.clock.now();
    this.uplinks = new Uplinks({
      config: () => this.config,
      clock: this.clock,
      logger: this.logger,
      random: this.random,
      secrets: this.secrets,
      led: () => this.led,
      configInfo: options.configInfo,
      injectedCommands: options.commandChannel,
      pollers: () => this.pollers,
      onRebirth: () => this.devices?.reportAll(),
      pageTap: (outbox) => this.pageTap(outbox),
    });
  }

  private get pollers(): readonly PollerEntry[] {
    return this.devices?.pollers ?? [];
  }

  /** The seam of live reloads (src/reload/apply.ts): device-level replace, nothing else. */
  reloadTarget(): ReloadTarget {
    return {
      config: () => this.config,
      build: (device, index) => this.requireDevices().add(device, index),
      replace: async (remove, add, config) => {
        await this.requireDevices().replace(remove, add, config);
        this.config = config;
        // The router holds driver instances: a fresh one sees the new ones (its ledger is durable).
        await this.uplinks.swapCommands(this.outbox);
      },
      replaceForwarder: async (config) => {
        this.config = config;
        await this.uplinks.replaceForwarder(this.outbox);
      },
      devices: () =>
        this.pollers.map(({ poller, instance }) => ({ stats: poller.stats(), driver: instance })),
      emit: (event) => this.emit(event),
      announce: () => this.uplinks.announce(),
      channel: () => this.commandChannel(),
      replaceCip22: async (config) => {
        this.config = config;
        await this.uplinks.replaceCip22(this.outbox);
      },
      dtuLinks: () => this.devices?.built.families.family('modbus'),
    };
  }

  private requireDevices(): DeviceSet {
    if (!this.devices) throw new Error('agent not started: no devices to reload');
    return this.devices;
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
    this.devices = await DeviceSet.build(this.config, {
      clock: this.clock,
      logger: this.logger,
      random: this.random,
      onReading: (reading) => {
        this.outbox?.append(this.bodies.record(reading));
        this.http?.page.reading(reading);
      },
      onEvent: (event) => this.emit(event),
      onOffline: (offline) => this.led?.set('device-fault', offline > 0),
    });
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
    if (this.config.http.enabled)
      this.http = await startAgentHttp(this.config, {
        secrets: this.secrets,
        clock: this.clock,
        logger: this.logger,
        version: this.options.ota?.version,
        snapshot: () => this.snapshot(),
        status: () => this.status(),
        sample: () => this.pageSample(),
        health: () => this.health(),
      });
    this.memoryGuard = new MemoryGuard(this.config.memory, { clock: this.clock, logger: this.logger });
    this.memoryGuard.start();
    if (this.config.mqtt.url) await this.uplinks.startForwarder(outbox);
    else this.logger.warn({}, 'no mqtt.url configured: records are stored, not forwarded');
    if (this.config.cip22.enabled) await this.uplinks.startCip22(outbox);
    // the drivers' shared links (the DTU listener) are up before any device starts
    await this.devices.start();
    this.uplinks.startCommands(outbox);
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
      pollers: this.devices?.progress() ?? [],
    };
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
    await this.uplinks.stopCommands();
    await this.devices?.stop();
    await this.uplinks.stopCip22();
    this.emit({ device: 'agent', ts: this.clock.now(), type: 'agent-stopped', severity: 'info', data: {} });
    await this.outbox
      ?.flush()
      .catch((error: unknown) => this.logger.error({ err: String(error) }, 'final flush failed'));
    await this.uplinks.stopForwarder();
    await this.outbox?.close();
    this.memoryGuard?.stop();
    await this.http?.close();
    await this.led?.close();
    this.state = 'stopped';
  }

  /** Where commands arrive: the injected channel, else the forwarder's MQTT one (none without `mqtt.url`). */
  commandChannel(): CommandChannel | undefined {
    return this.uplinks.commandChannel();
  }

  /** Settles when a release on trial is decided ('committed', 'rolled-back', …); tests await it. */
  otaTrialOutcome(): Promise<string> {
    return this.ota?.trialOutcome ?? Promise.resolve('not-started');
  }

  httpAddress(): string | undefined {
    return this.http ? `${this.config.http.host}:${this.http.port}` : undefined;
  }

  health(): Health {
    return agentHealth(this.outbox?.stats(), this.uplinks.forwarderStats(), this.state);
  }

  snapshot(): AgentStatsSnapshot {
    return buildAgentSnapshot({
      devices: this.pollers,
      store: this.outbox?.stats(),
      ...this.uplinks.snapshotParts(),
      memory: this.memoryGuard?.stats(),
      drivers: this.devices?.built.families.stats() ?? {},
      ota: this.ota?.status(),
    });
  }

  /** The /status.json document: what a field engineer looks at first. */
  status(): Record<string, unknown> {
    const uplinks = this.uplinks.status();
    return {
      agent: {
        id: this.config.agent.id,
        site: this.config.agent.site,
        state: this.state,
        uptimeMs: this.clock.now() - this.startedAt,
        config: this.options.configInfo?.() ?? null,
      },
      health: this.health(),
      devices: this.devices?.status() ?? [],
      ...this.devices?.built.families.status(),
      outbox: this.outbox?.stats() ?? null,
      forwarder: uplinks.forwarder,
      memory: this.memoryGuard?.stats() ?? null,
      watchdog: this.watchdog?.stats() ?? null,
      led: this.led?.showing() ?? null,
      commands: uplinks.commands,
      cip22: uplinks.cip22,
      ota: this.ota?.status() ?? null,
    };
  }

  /** What the station page samples each second while no page is open: status.json's fields it reads. */
  pageSample(): Record<string, unknown> {
    return {
      outbox: { rows: this.outbox?.rows ?? 0 },
      forwarder: { publishedRecords: this.uplinks.publishedRecords() },
      devices: this.devices?.pollSamples() ?? [],
    };
  }

  /** The outbox as parts that store their own records see it: the station page sees them too. */
  private pageTap(outbox: SqliteOutbox): OnceSink {
    return this.http ? tapSink(outbox, (record) => this.http?.page.record(record)) : outbox;
  }

  private emit(event: AgentEvent): void {
    const record = eventToRecord(event);
    this.outbox?.append(record);
    this.http?.page.record(record);
  }
}
