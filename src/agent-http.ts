/**
 * The agent's HTTP side: the status server (/metrics, /healthz, /status.json) with the
 * station page in front. prom-client and the registry of every metric are created at the
 * first scrape: a station nobody scrapes does not carry them (prom-client's default
 * process metrics, GC and event-loop histograms, then count from that scrape on).
 */
import type { Clock } from './core/clock.js';
import type { Logger } from './core/ports.js';
import type { EdgeConfig } from './config/schema.js';
import type { SecretResolver } from './config-kit/secrets.js';
import { driverMetrics } from './drivers/registry.js';
import { startStatusServer, type HealthReport } from './observability/http.js';
import type { AgentMetrics } from './observability/metrics.js';
import type { AgentStatsSnapshot } from './observability/snapshot.js';
import type { StationPage } from './web/station.js';

export interface AgentHttpDeps {
  readonly secrets: SecretResolver;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly version: string | undefined;
  readonly snapshot: () => AgentStatsSnapshot;
  readonly status: () => Record<string, unknown>;
  /** The station page's sample of the status while no page is open (ModelSources.sample). */
  readonly sample?: () => Record<string, unknown>;
  readonly health: () => HealthReport;
}

export interface AgentHttp {
  readonly page: StationPage;
  readonly port: number;
  close(): Promise<void>;
}

export async function startAgentHttp(config: EdgeConfig, deps: AgentHttpDeps): Promise<AgentHttp> {
  const { createStationPage } = await import('./web/station.js');
  const page = createStationPage({
    http: config.http,
    secrets: deps.secrets,
    status: deps.status,
    ...(deps.sample ? { sample: deps.sample } : {}),
    version: deps.version,
    brokerUrl: config.mqtt.url,
    clock: deps.clock,
    logger: deps.logger,
  });
  let metrics: Promise<AgentMetrics> | undefined;
  const scrape = async (): Promise<string> => {
    metrics ??= import('./observability/metrics.js').then(({ createMetrics }) =>
      createMetrics(deps.snapshot, { driverMetrics: driverMetrics() }),
    );
    return (await metrics).metrics();
  };
  const server = await startStatusServer(
    { host: config.http.host, port: config.http.port, front: page.front },
    { metrics: scrape, health: deps.health, status: deps.status },
    deps.logger,
  ).catch((error: unknown) => {
    page.close();
    throw error;
  });
  return {
    page,
    port: server.port,
    close: async () => {
      page.close();
      await server.close();
    },
  };
}
