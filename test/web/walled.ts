/** A station page behind its login wall, for the tests of the wall. */
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { createSecretResolver } from '../../src/config-kit/secrets.js';
import { startStatusServer, type StatusServer } from '../../src/observability/http.js';
import { createStationPage, type StationPage } from '../../src/web/station.js';

export interface Walled {
  readonly page: StationPage;
  readonly url: string;
  close(): Promise<void>;
}

/** A station page behind its login wall (bound "beyond loopback" as far as it knows), on loopback. */
export async function startWalled(
  secrets: { token?: { env: string }; password?: string },
  clock: ManualClock,
  env: Record<string, string>,
  sessionTtlMs = 60_000,
): Promise<Walled> {
  const page = createStationPage({
    http: { host: '203.0.113.7', auth: { ...secrets, sessionTtlMs, maxAttemptsPerMinute: 3 } },
    secrets: createSecretResolver({ env, readFile: () => '' }),
    status: () => ({ agent: { id: 'a', site: 's', state: 'running', uptimeMs: 1 } }),
    version: 't',
    brokerUrl: undefined,
    clock,
    logger: silentLogger,
  });
  const server: StatusServer = await startStatusServer(
    { host: '127.0.0.1', port: 0, front: page.front },
    { metrics: async () => 'm 1\n', health: () => ({ ok: true, problems: [] }), status: () => ({ a: 1 }) },
    silentLogger,
  );
  return {
    page,
    url: `http://127.0.0.1:${server.port}`,
    close: async () => {
      page.close();
      await server.close();
    },
  };
}

export function postLogin(url: string, secret: string): Promise<Response> {
  return fetch(`${url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ secret }).toString(),
  });
}
