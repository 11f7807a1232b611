/**
 * The gateway as the agent runs it: certificates and keys read from the config's paths
 * and secrets, errors naming the config field, then started.
 */
import { readFileSync } from 'node:fs';
import type { Clock } from '../../core/clock.js';
import { EdgeError } from '../../core/errors.js';
import type { CommandChannel, Logger, OnceSink } from '../../core/ports.js';
import type { SecretResolver } from '../../config-kit/secrets.js';
import type { Cip22Config } from '../config.js';
import { loadRoots } from '../identity/index.js';
import type { PileCommandOptions } from './commands.js';
import { Cip22Gateway } from './gateway.js';

export interface StartGatewayDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly outbox: OnceSink;
  readonly secrets: SecretResolver;
  readonly commands?: CommandChannel;
  readonly commandOptions?: PileCommandOptions;
}

function readConfigFile(path: string, field: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new EdgeError('EDGE_ERR_CONFIG_READ', `${field}: cannot read ${path}: ${(e as Error).message}`, {
      cause: e,
      context: { field },
    });
  }
}

export async function startCip22Gateway(config: Cip22Config, deps: StartGatewayDeps): Promise<Cip22Gateway> {
  const tls = config.tls;
  if (!tls || !config.host)
    throw new EdgeError('EDGE_ERR_CONFIG_INVALID', 'cip22: host and tls are required when enabled');
  const gateway = new Cip22Gateway(config, {
    clock: deps.clock,
    logger: deps.logger,
    outbox: deps.outbox,
    roots: loadRoots(config.roots.map((path, i) => readConfigFile(path, `cip22.roots[${i}]`))),
    tls: { cert: readConfigFile(tls.cert, 'cip22.tls.cert'), key: deps.secrets(tls.key, 'cip22.tls.key') },
    commands: deps.commands,
    commandOptions: deps.commandOptions,
  });
  await gateway.start();
  return gateway;
}
