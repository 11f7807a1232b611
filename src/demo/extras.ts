/**
 * The rest of the demo station, beside the Modbus TCP devices: a meter on an RS-485 bus
 * behind a DTU that dials the agent (the DTU simulator, its serial side an in-process RTU
 * slave), and three CIP-22 piles (the pile simulator) charging on a schedule, one of them
 * reporting a fault. The piles need a PKI: made once with scripts/cip22-certs.sh into the
 * demo's data directory and reused (about 2 s the first time).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDtuSimulator, type DtuSimulator } from '../tools/dtu-sim/simulator.js';
import type { PileSimArgs } from '../tools/pile-sim/args.js';
import { runPileSim } from '../tools/pile-sim/runner.js';
import { rtuSlaveBus } from './rtu-slave.js';
import { freePort } from './simulator.js';
import type { DemoDevice } from './station.js';

const CERTS_SCRIPT = fileURLToPath(new URL('../../../scripts/cip22-certs.sh', import.meta.url));
const DTU_NAME = 'dtu-canopy';
const DTU_REGISTRATION = 'DTU-DEMO-01';
const DTU_HEARTBEAT_MS = 5000;
export const DEMO_PILES = ['PILE-01', 'PILE-02', 'PILE-03'] as const;
/** The pile that reports a fault during its sessions. */
export const FAULTY_PILE = 'PILE-03';

const TAU = 2 * Math.PI;

/** The meter behind the DTU (unit 3 on its RS-485 bus). */
export const DTU_METER: DemoDevice = {
  name: 'meter-canopy',
  unitId: 3,
  intervalMs: 1000,
  description: 'Canopy meter on RS-485 behind a 4G DTU',
  tags: [
    ['voltage', 0, (t: number) => 231 + 2 * Math.sin((TAU * t) / 50)],
    ['current', 2, (t: number) => 9 + 6 * Math.sin((TAU * t) / 70)],
    ['frequency', 4, (t: number) => 50 + 0.04 * Math.sin((TAU * t) / 33)],
  ].map(([name, address, value]) => ({
    name: name as string,
    function: 'input' as const,
    address: address as number,
    type: 'f32' as const,
    wordOrder: 'big' as const,
    byteOrder: 'big' as const,
    scale: 1,
    offset: 0,
    value: value as (t: number) => number,
  })),
};
/** Configured, but not on the meter's map: the meter answers exception 02, the page shows it bad. */
export const BAD_TAG = 'power_factor';

export interface DemoExtras {
  /** Config sections to merge into the demo's config. */
  readonly config: { dtu: object; cip22?: object; devices: object[] };
  /** Why the piles are left out (no openssl, no scripts/ in a release bundle), if they are. */
  readonly pilesSkipped: string | undefined;
  /** Starts the DTU and the piles (after the agent listens). */
  start(err: (line: string) => void): Promise<void>;
  close(): Promise<void>;
}

function ensurePki(dir: string): string | undefined {
  if (existsSync(join(dir, 'done'))) return undefined;
  if (!existsSync(CERTS_SCRIPT)) return `${CERTS_SCRIPT} is not here (a release bundle has no scripts/)`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'piles'), { recursive: true });
  const run = (...args: string[]): void =>
    void execFileSync('bash', [CERTS_SCRIPT, ...args], { stdio: 'ignore' });
  try {
    run('root', join(dir, 'root'), '--alg', 'p256', '--cn', 'Demo Root CA');
    run('issuing', join(dir, 'issuing'), '--root', join(dir, 'root'), '--cn', 'Demo Issuing CA');
    for (const id of DEMO_PILES)
      run('pile', join(dir, 'piles', id), '--ca', join(dir, 'issuing'), '--id', id);
    run(
      'server',
      join(dir, 'server'),
      '--ca',
      join(dir, 'issuing'),
      '--cn',
      'localhost',
      '--san',
      'IP:127.0.0.1',
    );
  } catch (error) {
    return `cannot make the demo PKI with openssl: ${(error as Error).message.split('\n')[0] ?? ''}`;
  }
  execFileSync('touch', [join(dir, 'done')]);
  return undefined;
}

/** Sessions on a 40 s cycle, each pile offset by 6 s, for four hours. */
function pileArgs(pki: string, port: number, index: number, id: string): PileSimArgs {
  const sessions = [];
  const faults = [];
  for (let k = 0; k < 360; k++) {
    const startS = 4 + 6 * index + 40 * k;
    sessions.push({ startS, stopS: startS + 20, energyWh: 150 + 40 * index });
    if (id === FAULTY_PILE && k % 2 === 0) faults.push({ atS: startS + 8, code: 0x21 });
  }
  return {
    host: '127.0.0.1',
    port,
    ca: join(pki, 'root', 'cert.pem'),
    cert: join(pki, 'piles', `${id}.pem`),
    key: join(pki, 'piles', `${id}.key.pem`),
    issuer: join(pki, 'issuing', 'cert.pem'),
    statusMs: 2000,
    sessions,
    faults,
    drops: [],
  };
}

export async function prepareDemoExtras(dataDir: string): Promise<DemoExtras> {
  const dtuPort = await freePort();
  const pilePort = await freePort();
  const pki = join(dataDir, 'pki');
  const pilesSkipped = ensurePki(pki);
  const tags = DTU_METER.tags.map((t) => ({
    name: t.name,
    function: t.function,
    address: t.address,
    type: t.type,
  }));
  tags.push({ name: BAD_TAG, function: 'input', address: 40, type: 'f32' });
  const config: DemoExtras['config'] = {
    dtu: {
      server: { host: '127.0.0.1', port: dtuPort },
      links: [
        {
          name: DTU_NAME,
          mode: 'server',
          registration: { ascii: DTU_REGISTRATION },
          heartbeat: { ascii: 'HB' },
          heartbeatIntervalMs: DTU_HEARTBEAT_MS,
        },
      ],
    },
    devices: [
      {
        name: DTU_METER.name,
        driver: 'modbus',
        connection: { transport: 'dtu', dtu: DTU_NAME },
        unitId: DTU_METER.unitId,
        intervalMs: DTU_METER.intervalMs,
        tags,
      },
    ],
  };
  if (!pilesSkipped)
    config.cip22 = {
      enabled: true,
      host: '127.0.0.1',
      port: pilePort,
      tls: { cert: join(pki, 'server.chain.pem'), key: { file: join(pki, 'server.key.pem') } },
      roots: [join(pki, 'root', 'cert.pem')],
    };
  let dtu: DtuSimulator | undefined;
  let stopPiles: () => void = () => undefined;
  const piles: Promise<unknown>[] = [];
  return {
    config,
    pilesSkipped,
    async start(err) {
      dtu = await startDtuSimulator({
        agent: { host: '127.0.0.1', port: dtuPort },
        serial: { stream: rtuSlaveBus([DTU_METER]) },
        registration: `ascii:${DTU_REGISTRATION}`,
        heartbeat: 'ascii:HB',
        heartbeatIntervalMs: DTU_HEARTBEAT_MS,
      });
      if (pilesSkipped) return;
      const stop = new Promise<void>((resolve) => (stopPiles = resolve));
      // The runner's start-up line says nothing the demo's summary does not.
      const quiet = (line: string): void => (/pile\(s\) →/.test(line) ? undefined : err(line));
      DEMO_PILES.forEach((id, i) => {
        piles.push(
          runPileSim(pileArgs(pki, pilePort, i, id), quiet, stop).catch((e: unknown) =>
            err(`pile-sim: ${String(e)}`),
          ),
        );
      });
    },
    async close() {
      stopPiles();
      await Promise.all(piles);
      await dtu?.close();
    },
  };
}
