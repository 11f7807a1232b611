/**
 * Import cost: each module loaded in a fresh child process (RSS and heap after a GC,
 * beside a bare `node -e ''` child measured the same way in the same run), then the RSS of
 * the agent with a Modbus-only config as it loads now (CIP-22, prom-client's server side,
 * tar on demand) beside the same agent with those modules preloaded, as it loaded before.
 * Select with `npm run bench -- imports`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RELEASE_ENV, RELEASE_NODE_FLAGS } from '../bundle/runtime.js';
import { benchRounds, type BenchResult, alternate, formatResult } from './common.js';

const ROUNDS = benchRounds(3);
const ROOT = new URL('../../../', import.meta.url).pathname;
const DIST = (path: string): string => pathToFileURL(join(ROOT, 'dist', path)).href;
const AGENT_CHILD = new URL('./imports-agent.js', import.meta.url).pathname;

/** What the agent now loads only when the config uses it (prom-client: at the first scrape). */
export const ON_DEMAND = [
  DIST('src/cip22/gateway/start.js'),
  DIST('src/observability/metrics.js'),
  'tar',
  DIST('src/drivers/s7/family.js'),
  DIST('src/drivers/opcua/family.js'),
  DIST('src/drivers/modbus/dtu/hub.js'),
  // modbus-serial and serialport: at an RTU line's first connect
  DIST('src/drivers/modbus/transport.js'),
  DIST('src/drivers/modbus/serial-stream.js'),
] as const;

interface Cost {
  readonly rss: number;
  readonly heap: number;
}

const MODULES: readonly { readonly name: string; readonly code: string }[] = [
  ...['@peculiar/asn1-schema', '@peculiar/asn1-x509', 'sm-crypto-v2', 'tar', 'prom-client', 'aedes'].map(
    (m) => ({ name: m, code: `await import(${JSON.stringify(m)});` }),
  ),
  {
    name: 'prom-client + collectDefaultMetrics + one scrape',
    code: "const p = await import('prom-client'); const register = new p.Registry(); p.collectDefaultMetrics({ register }); await register.metrics();",
  },
  ...['better-sqlite3', 'mqtt', 'modbus-serial', 'zod', 'pino'].map((m) => ({
    name: m,
    code: `await import(${JSON.stringify(m)});`,
  })),
  ...[
    'src/cip22/gateway/start.js',
    'src/ota/agent-side.js',
    'src/ota/unpack.js',
    'src/drivers/s7/index.js',
    'src/drivers/s7/family.js',
    'src/drivers/opcua/family.js',
    'src/drivers/modbus/dtu/hub.js',
    'src/observability/metrics.js',
    'src/config/schema.js',
    'src/demo/broker.js',
    'src/agent.js',
  ].map((m) => ({ name: `dist/${m}`, code: `await import(${JSON.stringify(DIST(m))});` })),
];

/** RSS and heap after `code` in a fresh node, after a full GC. */
function measure(code: string): Cost {
  const script = `${code}\nglobalThis.gc(); const m = process.memoryUsage(); console.log(JSON.stringify({ rss: m.rss, heap: m.heapUsed }));`;
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
    cwd: ROOT,
    env: PRODUCTION_ENV,
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Cost;
}

const MB = (n: number): string => (n / 1e6).toFixed(1);

async function moduleCosts(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const m of MODULES) {
    let heap = { agent: 0, baseline: 0 };
    const rss = await alternate(
      ROUNDS,
      () => {
        const c = measure(m.code);
        heap = { ...heap, agent: c.heap };
        return c.rss;
      },
      () => {
        const c = measure('');
        heap = { ...heap, baseline: c.heap };
        return c.rss;
      },
    );
    results.push({
      name: `import ${m.name}: RSS`,
      unit: 'MB',
      value: rss.agent / 1e6,
      baselineName: "bare node -e ''",
      baseline: rss.baseline / 1e6,
      notes: `+${MB(rss.agent - rss.baseline)} MB RSS, +${MB(heap.agent - heap.baseline)} MB heap (last round)`,
    });
  }
  return results;
}

/** What a Modbus-only agent needs anyway: the marginal cost of a module is measured on top of it. */
const CORE = [
  'src/config/schema.js',
  'src/drivers/modbus/index.js',
  // the definition loads its family only for an agent with Modbus devices (this one)
  'src/drivers/modbus/family.js',
  'src/store/sqlite-outbox.js',
  'src/forwarders/mqtt/forwarder.js',
  'src/observability/http.js',
].map((m) => `await import(${JSON.stringify(DIST(m))});`);

const MARGINAL: readonly string[] = [
  'src/drivers/modbus/transport.js',
  'src/cip22/gateway/start.js',
  'src/drivers/s7/family.js',
  'src/drivers/opcua/family.js',
  'src/drivers/modbus/dtu/hub.js',
  'src/ota/agent-side.js',
  'src/ota/unpack.js',
  'src/observability/metrics.js',
];

export async function marginalCosts(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const core = CORE.join('\n');
  for (const m of MARGINAL) {
    const rss = await alternate(
      ROUNDS,
      () => measure(`${core}\nawait import(${JSON.stringify(DIST(m))});`).rss,
      () => measure(core).rss,
    );
    results.push({
      name: `import dist/${m} on top of the Modbus-only core: RSS`,
      unit: 'MB',
      value: rss.agent / 1e6,
      baselineName:
        'the core alone (config schema, Modbus driver, SQLite outbox, MQTT forwarder, status server)',
      baseline: rss.baseline / 1e6,
      notes: `+${MB(rss.agent - rss.baseline)} MB RSS`,
    });
  }
  return results;
}

/** The V8 flags the agent runs with in production (the release's launcher, the CLI's shebang). */
export const PRODUCTION_FLAGS = RELEASE_NODE_FLAGS;
/** The environment the release's launcher sets (malloc arenas), over this process's. */
export const PRODUCTION_ENV: NodeJS.ProcessEnv = { ...RELEASE_ENV, ...process.env };

/** The agent with a Modbus-only config, its RSS after it settles; `preload` first. */
export function agentRss(preload: readonly string[], flags: readonly string[] = PRODUCTION_FLAGS): number {
  const dir = mkdtempSync(join(tmpdir(), 'bench-imports-'));
  try {
    const out = execFileSync(process.execPath, ['--expose-gc', ...flags, AGENT_CHILD, dir, ...preload], {
      cwd: ROOT,
      env: PRODUCTION_ENV,
      encoding: 'utf8',
    });
    return (JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { rss: number }).rss;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult[]> {
  const results = [...(await moduleCosts()), ...(await marginalCosts())];
  const agent = await alternate(
    ROUNDS,
    () => agentRss([]),
    () => agentRss(ON_DEMAND),
  );
  const scraped = await alternate(
    ROUNDS,
    () => agentRss([]),
    () => agentRss(['scrape']),
  );
  const bare = await alternate(
    ROUNDS,
    () => agentRss([]),
    () => measure('').rss,
  );
  results.push(
    {
      name: 'agent RSS, Modbus-only config (demo station), modules on demand',
      unit: 'MB',
      value: agent.agent / 1e6,
      baselineName:
        'the same agent with CIP-22, prom-client metrics, tar, the S7/OPC UA families, the DTU hub and the serial transports preloaded (as it loaded before)',
      baseline: agent.baseline / 1e6,
      notes: `runs ${agent.agentRuns.map(MB).join(', ')} MB vs ${agent.baselineRuns.map(MB).join(', ')} MB`,
    },
    {
      name: 'agent RSS, Modbus-only config (demo station), /metrics never scraped',
      unit: 'MB',
      value: scraped.agent / 1e6,
      baselineName:
        'the same agent after one /metrics scrape (prom-client, registry, default metrics created)',
      baseline: scraped.baseline / 1e6,
      notes: `runs ${scraped.agentRuns.map(MB).join(', ')} MB vs ${scraped.baselineRuns.map(MB).join(', ')} MB`,
    },
    {
      name: 'agent RSS, Modbus-only config (demo station), modules on demand',
      unit: 'MB',
      value: bare.agent / 1e6,
      baselineName: "bare node -e ''",
      baseline: bare.baseline / 1e6,
    },
  );
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await run()) console.log(formatResult(r));
}
