/**
 * The agent's links beyond its devices: the MQTT forwarder (with its Sparkplug uplink), the
 * command router and the CIP-22 gateway, and how a live reload replaces each. What a
 * replaced part counted carries over to the one after it (agent-totals.ts).
 */
import type { Clock } from './core/clock.js';
import type { CommandRouter } from './core/command-router.js';
import type { CommandChannel, Logger, OnceSink } from './core/ports.js';
import type { Cip22Gateway } from './cip22/gateway/gateway.js';
import type { EdgeConfig } from './config/schema.js';
import type { SecretResolver } from './config-kit/secrets.js';
import type { StatusIndicator } from './host/led/status-led.js';
import type { PollerEntry } from './agent-devices.js';
import { commandLedger, startCommandRouter } from './agent-commands.js';
import { createAgentForwarder } from './agent-forwarder.js';
import { PartTotals } from './agent-totals.js';
import type { MqttForwarder, MqttForwarderStats } from './forwarders/mqtt/forwarder.js';
import type { SparkplugUplink } from './forwarders/sparkplug/uplink.js';
import type { SnapshotParts } from './observability/agent-snapshot.js';
import type { Outbox } from './store/outbox.js';
import { SqliteOutbox } from './store/sqlite-outbox.js';
import { SwitchableChannel } from './reload/channel.js';

export interface UplinkDeps {
  /** The active config (a reload changes it before it replaces a part). */
  readonly config: () => EdgeConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: () => number;
  readonly secrets: SecretResolver;
  readonly led: () => StatusIndicator | undefined;
  readonly configInfo: (() => { readonly hash: string; readonly version: string | null }) | undefined;
  /** Where commands arrive instead of the forwarder's channel (tests, other transports). */
  readonly injectedCommands: CommandChannel | undefined;
  readonly pollers: () => readonly PollerEntry[];
  /** Sparkplug asks for every value again. */
  readonly onRebirth: () => void;
  /** The outbox as parts that store their own records see it (the station page sees them too). */
  readonly pageTap: (outbox: SqliteOutbox) => OnceSink;
}

export class Uplinks {
  /** The forwarder's channel, kept across a live MQTT change (src/reload/channel.ts). */
  private readonly channel = new SwitchableChannel();
  private forwarder: MqttForwarder | undefined;
  private sparkplug: SparkplugUplink | undefined;
  private commands: CommandRouter | undefined;
  private cip22: Cip22Gateway | undefined;
  private readonly totals = new PartTotals();

  constructor(private readonly deps: UplinkDeps) {}

  /** Where commands arrive: the injected channel, else the forwarder's MQTT one (none without `mqtt.url`). */
  commandChannel(): CommandChannel | undefined {
    return this.deps.injectedCommands ?? (this.forwarder ? this.channel : undefined);
  }

  /** The running forwarder's own stats (health judges its connection). */
  forwarderStats(): MqttForwarderStats | undefined {
    return this.forwarder?.stats();
  }

  /** status().forwarder.publishedRecords alone, without building the forwarder's stats (0 without one). */
  publishedRecords(): number {
    return this.totals.publishedRecords(this.forwarder?.publishedRecords) ?? 0;
  }

  announce(): void {
    this.forwarder?.announceStatus();
  }

  async startForwarder(outbox: SqliteOutbox): Promise<void> {
    const { forwarder, sparkplug } = await createAgentForwarder(this.deps.config(), {
      outbox,
      clock: this.deps.clock,
      logger: this.deps.logger,
      random: this.deps.random,
      secrets: this.deps.secrets,
      led: this.deps.led(),
      configInfo: this.deps.configInfo,
      onRebirth: this.deps.onRebirth,
    });
    this.forwarder = forwarder;
    this.sparkplug = sparkplug;
    this.channel.switchTo(forwarder.commands);
    await forwarder.start();
  }

  startCommands(outbox: SqliteOutbox): void {
    const channel = this.commandChannel();
    if (!channel) return;
    this.commands = startCommandRouter(this.deps.pollers(), this.deps.config().commands, {
      channel:
        this.sparkplug && !this.deps.injectedCommands ? this.sparkplug.commandChannel(channel) : channel,
      outbox,
      clock: this.deps.clock,
      logger: this.deps.logger,
    });
  }

  /**
   * A new command router in place of the running one. The new one subscribes before the old
   * one unsubscribes (same tick, so no message reaches both): the broker keeps every
   * `{device}/cmd` subscription, and no command published meanwhile is dropped while the old
   * one finishes the writes it accepted.
   */
  async swapCommands(outbox: Outbox | undefined): Promise<void> {
    const previous = this.commands;
    if (outbox instanceof SqliteOutbox) this.startCommands(outbox);
    if (previous !== this.commands && previous) {
      this.totals.retireRouter(previous.stats().refused);
      await previous.stop();
    }
  }

  /** The forwarder of the active config in place of the running one. */
  async replaceForwarder(outbox: Outbox | undefined): Promise<void> {
    if (this.forwarder) this.totals.retireForwarder(this.forwarder.stats());
    await this.forwarder?.stop();
    if (!(outbox instanceof SqliteOutbox)) return;
    await this.startForwarder(outbox);
    // a Sparkplug uplink is per forwarder: the router must take commands from the new one
    await this.swapCommands(outbox);
  }

  /** The CIP-22 gateway (config.cip22.enabled): stopped before the outbox closes. */
  async startCip22(outbox: SqliteOutbox): Promise<void> {
    const commands = this.deps.config().commands;
    const { requireExpiry, maxAgeMs, clockSkewMs, maxPayloadBytes } = commands;
    // Loaded on demand: the identity stack (asn1, sm-crypto) costs memory a station without piles never uses.
    const { startCip22Gateway } = await import('./cip22/gateway/start.js');
    this.cip22 = await startCip22Gateway(this.deps.config().cip22, {
      clock: this.deps.clock,
      logger: this.deps.logger.child({ component: 'cip22' }),
      outbox: this.deps.pageTap(outbox),
      secrets: this.deps.secrets,
      commands: this.commandChannel(),
      commandOptions: {
        ledger: commandLedger(outbox, commands),
        policy: { requireExpiry, maxAgeMs, clockSkewMs },
        maxPayloadBytes,
      },
    });
  }

  /** The gateway of the active config (none when disabled) in place of the running one. */
  async replaceCip22(outbox: Outbox | undefined): Promise<void> {
    if (this.cip22) this.totals.retireGateway(this.cip22.status(), this.cip22.commandRefusals());
    await this.cip22?.stop();
    this.cip22 = undefined;
    if (this.deps.config().cip22.enabled && outbox instanceof SqliteOutbox) await this.startCip22(outbox);
  }

  async stopCommands(): Promise<void> {
    await this.commands?.stop();
  }

  async stopCip22(): Promise<void> {
    await this.cip22?.stop();
  }

  async stopForwarder(): Promise<void> {
    await this.forwarder?.stop();
  }

  /** Totals since the agent started, for /metrics. */
  snapshotParts(): Pick<SnapshotParts, 'forwarder' | 'forwarderEnabled' | 'commandsRefused'> {
    return {
      forwarder: this.totals.forwarder(this.forwarder?.stats()),
      forwarderEnabled: this.forwarder !== undefined,
      commandsRefused: this.totals.refusals({
        device: this.commands?.stats().refused,
        pile: this.cip22?.commandRefusals(),
        forwarder: this.forwarder?.stats(),
      }),
    };
  }

  /** Their parts of /status.json, totals since the agent started. */
  status(): { forwarder: unknown; commands: unknown; cip22: unknown } {
    return {
      forwarder: this.totals.forwarder(this.forwarder?.stats()) ?? null,
      commands: this.commands?.stats() ?? null,
      cip22: this.totals.gateway(this.cip22?.status()) ?? null,
    };
  }
}
