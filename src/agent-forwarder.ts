/** The agent's northbound side: the MQTT forwarder draining the outbox, with the Sparkplug uplink when configured. */
import type { Clock } from './core/clock.js';
import type { Logger } from './core/ports.js';
import type { EdgeConfig } from './config/schema.js';
import type { SecretResolver } from './config-kit/secrets.js';
import { MqttForwarder } from './forwarders/mqtt/forwarder.js';
import type { SparkplugUplink } from './forwarders/sparkplug/uplink.js';
import type { StatusIndicator } from './host/led/status-led.js';
import type { SqliteOutbox } from './store/sqlite-outbox.js';

export interface AgentForwarderDeps {
  readonly outbox: SqliteOutbox;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: () => number;
  readonly secrets: SecretResolver;
  readonly led: StatusIndicator | undefined;
  readonly configInfo: (() => { readonly hash: string; readonly version: string | null }) | undefined;
  /** Sparkplug asks for every value again (a rebirth). */
  readonly onRebirth: () => void;
}

/** A forwarder, not started (the caller switches its command channel first), with its uplink. */
export async function createAgentForwarder(
  config: EdgeConfig,
  deps: AgentForwarderDeps,
): Promise<{ forwarder: MqttForwarder; sparkplug: SparkplugUplink | undefined }> {
  const logger = deps.logger.child({ component: 'mqtt' });
  // Loaded only when used: protobufjs and the .proto parse cost start-up time and RAM.
  const sparkplug =
    config.mqtt.payload.format === 'sparkplug'
      ? (await import('./forwarders/sparkplug/create.js')).createSparkplugUplink(config, {
          clock: deps.clock,
          logger,
          onRebirth: deps.onRebirth,
          ...(deps.configInfo ? { config: deps.configInfo } : {}),
        })
      : undefined;
  const forwarder = new MqttForwarder(config.mqtt, {
    ...(sparkplug ? { uplink: sparkplug } : {}),
    source: deps.outbox,
    readerFile: deps.outbox.path,
    clock: deps.clock,
    logger,
    random: deps.random,
    site: config.agent.site,
    agentId: config.agent.id,
    secrets: deps.secrets,
    config: deps.configInfo,
  });
  const led = deps.led;
  led?.set('store-and-forward', true);
  forwarder.on('connected', () => led?.set('store-and-forward', false));
  forwarder.on('disconnected', () => led?.set('store-and-forward', true));
  return { forwarder, sparkplug };
}
