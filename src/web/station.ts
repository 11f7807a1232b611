/**
 * The station page as one part the agent starts with its status listener: the model fed
 * by the agent's readings and records, the event hub, the assets, the login wall.
 */
import type { Clock } from '../core/clock.js';
import { EdgeError } from '../core/errors.js';
import type { Logger } from '../core/ports.js';
import type { NewRecord, Reading } from '../core/types.js';
import type { SecretResolver } from '../config-kit/secrets.js';
import type { SecretRef } from '../config-kit/common.js';
import { isLoopbackHost } from '../config/sections/observability.js';
import type { FrontVerdict } from '../observability/http.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { runningVersion } from '../ota/version.js';
import { loadAssets, pageWeightGzip } from './assets.js';
import { PageAuth } from './auth.js';
import { createFront } from './front.js';
import { EventHub } from './hub.js';
import { StationModel } from './model.js';
import { publicBrokerUrl, type Json } from './views.js';

export interface StationPageOptions {
  readonly http: {
    readonly host: string;
    readonly auth?: {
      readonly token?: SecretRef;
      readonly password?: SecretRef;
      readonly sessionTtlMs: number;
      readonly maxAttemptsPerMinute: number;
    };
  };
  readonly secrets: SecretResolver;
  readonly status: () => Json;
  /** The few fields the page samples each second while no page is open (ModelSources.sample). */
  readonly sample?: () => Json;
  /** Default: the release's package.json. */
  readonly version?: string;
  readonly brokerUrl: string | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Test and bench knobs. */
  readonly refreshMs?: number;
  readonly flushMs?: number;
}

export interface StationPage {
  readonly front: (req: IncomingMessage, res: ServerResponse, path: string) => Promise<FrontVerdict>;
  reading(reading: Reading): void;
  record(record: NewRecord): void;
  /** Pages connected to the live stream now. */
  readonly clients: number;
  readonly pageWeightGzip: number;
  close(): void;
}

/** The page must not keep the agent from starting over a missing package.json. */
function releaseVersion(): string {
  try {
    return runningVersion();
  } catch {
    return 'unknown';
  }
}

function pageAuth(options: StationPageOptions): PageAuth | undefined {
  if (isLoopbackHost(options.http.host)) return undefined;
  const auth = options.http.auth;
  const token = auth?.token === undefined ? undefined : options.secrets(auth.token, 'http.auth.token');
  const password =
    auth?.password === undefined ? undefined : options.secrets(auth.password, 'http.auth.password');
  if (!auth || (!token && !password))
    throw new EdgeError(
      'EDGE_ERR_CONFIG_INVALID',
      `http.host ${options.http.host} is not loopback: the station page needs http.auth.token or http.auth.password`,
    );
  return new PageAuth({
    token,
    password,
    sessionTtlMs: auth.sessionTtlMs,
    maxAttemptsPerMinute: auth.maxAttemptsPerMinute,
    clock: options.clock,
  });
}

export function createStationPage(options: StationPageOptions): StationPage {
  const auth = pageAuth(options);
  const problems: string[] = [];
  const assets = loadAssets(problems);
  for (const problem of problems)
    options.logger.error({ problem }, 'station page incomplete: a file of the page cannot be read');
  const model = new StationModel({
    status: options.status,
    ...(options.sample ? { sample: options.sample } : {}),
    version: options.version ?? releaseVersion(),
    brokerUrl: publicBrokerUrl(options.brokerUrl),
    clock: options.clock,
  });
  const hub = new EventHub(model, {
    clock: options.clock,
    logger: options.logger.child({ component: 'station-page' }),
    refreshMs: options.refreshMs,
    flushMs: options.flushMs,
  });
  hub.start();
  return {
    front: createFront({ assets, hub, auth }),
    reading: (reading) => model.reading(reading),
    record: (record) => model.record(record),
    get clients() {
      return hub.size;
    },
    pageWeightGzip: pageWeightGzip(assets),
    close: () => hub.stop(),
  };
}
