/**
 * The agent's devices: the drivers built from the config (their families are created, and
 * their modules imported, only for the drivers the config uses), one poller per device,
 * and which devices are offline. The agent wires their readings and events to the outbox.
 */
import type { Clock } from './core/clock.js';
import { DevicePoller } from './core/poller.js';
import type { DeviceDriver, Logger } from './core/ports.js';
import type { AgentEvent, Reading } from './core/types.js';
import type { EdgeConfig } from './config/schema.js';
import { buildDevices, type BuiltDevice, type BuiltDevices } from './drivers/build.js';
import { FailoverDriver } from './drivers/failover/driver.js';
import type { AgentDeviceConfig } from './drivers/schemas.js';
import type { ProgressSample } from './host/watchdog/health-gate.js';
import { pollerStallMs } from './host/watchdog/progress.js';

export interface PollerEntry {
  readonly poller: DevicePoller;
  readonly driver: string;
  readonly instance: DeviceDriver;
  readonly allowWrites: boolean;
  readonly stallMs: number;
}

export interface DeviceSetDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: () => number;
  readonly onReading: (reading: Reading) => void;
  readonly onEvent: (event: AgentEvent) => void;
  /** A device went offline or came back: how many are offline now. */
  readonly onOffline: (offline: number) => void;
}

export class DeviceSet {
  readonly pollers: PollerEntry[] = [];
  private readonly offline = new Set<string>();

  private constructor(
    private config: EdgeConfig,
    readonly built: BuiltDevices,
    private readonly deps: DeviceSetDeps,
  ) {
    for (const device of built.devices) this.pollers.push(this.createPoller(device));
  }

  /**
   * Builds and init()s every driver (validates, no I/O) with the same function check-config
   * uses. A device its driver refuses does not stop the agent: it is logged, and its poller
   * parks it offline with the refusal's code while the others run.
   */
  static async build(config: EdgeConfig, deps: DeviceSetDeps): Promise<DeviceSet> {
    const { clock, logger, random, onEvent } = deps;
    const built = await buildDevices(config, { clock, logger, random, onEvent });
    for (const problem of built.problems)
      logger.error({ device: problem.device, code: problem.code, path: problem.path }, problem.message);
    for (const warning of built.warnings) logger.warn({ path: warning.path }, warning.message);
    return new DeviceSet(config, built, deps);
  }

  private createPoller({ config: device, driver }: BuiltDevice): PollerEntry {
    const poller = new DevicePoller(driver, {
      clock: this.deps.clock,
      logger: this.deps.logger.child({ device: device.name }),
      random: this.deps.random,
      startBackoff: device.reconnect,
      offline: this.config.agent.offline,
      spread: this.config.agent.pollSpread,
      spreadSlots: this.config.agent.pollSpreadSlots,
      report: device.report,
      onReading: this.deps.onReading,
      onEvent: (event) => {
        this.track(event);
        this.deps.onEvent(event);
      },
    });
    const tagIntervals = driver.tags().map((tag) => tag.intervalMs);
    const stallMs = pollerStallMs(this.config.watchdog, tagIntervals, device.reconnect.maxMs);
    const allowWrites = device.commands?.allowWrites ?? this.config.commands.allowWrites;
    return { poller, driver: device.driver, instance: driver, allowWrites, stallMs };
  }

  private track(event: AgentEvent): void {
    if (event.type === 'device-offline') this.offline.add(event.device);
    else if (event.type === 'device-online') this.offline.delete(event.device);
    else return;
    this.deps.onOffline(this.offline.size);
  }

  /** A device for a live reload, in the running families (a new driver's family is created first). */
  add(device: AgentDeviceConfig, index: number): ReturnType<BuiltDevices['add']> {
    return this.built.add(device, index);
  }

  /** Live reload: stops and removes the named devices, then starts the added ones under `config`. */
  async replace(remove: readonly string[], add: readonly BuiltDevice[], config: EdgeConfig): Promise<void> {
    const gone = this.pollers.filter(({ poller }) => remove.includes(poller.device));
    await Promise.all(gone.map(({ poller }) => poller.stop()));
    // frees what only they used (a serial line, a connection) so a re-added device can open it
    for (const { instance } of gone) await this.built.families.remove(instance);
    for (const entry of gone) this.pollers.splice(this.pollers.indexOf(entry), 1);
    for (const name of remove) this.offline.delete(name);
    this.config = config;
    const added = add.map((built) => this.createPoller(built));
    this.pollers.push(...added);
    for (const { poller } of added) poller.start();
  }

  /** The drivers' shared links (the DTU listener) open, then every poller starts. */
  async start(): Promise<void> {
    await this.built.start();
    for (const { poller } of this.pollers) poller.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.pollers.map(({ poller }) => poller.stop()));
    await this.built.close();
  }

  reportAll(): void {
    for (const { poller } of this.pollers) poller.reportAll();
  }

  /** What the watchdog's health gate judges of the pollers: their steps. */
  progress(): ProgressSample['pollers'] {
    return this.pollers.map(({ poller, stallMs }) => {
      const s = poller.stats();
      return { device: s.device, steps: s.steps, parked: s.parked, stallMs };
    });
  }

  /** Each device's last poll: what the station page samples of the devices part each second. */
  pollSamples(): { device: string; lastPollTs: number | null; lastPollMs: number | null }[] {
    return this.pollers.map(({ poller }) => poller.lastPoll());
  }

  /** The devices part of /status.json. */
  status(): Record<string, unknown>[] {
    return this.pollers.map(({ poller, driver, instance }) => ({
      driver,
      ...poller.stats(),
      ...(instance instanceof FailoverDriver ? { source: instance.active } : {}),
      link: poller.driverStatus(),
    }));
  }
}
