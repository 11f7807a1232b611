#!/usr/bin/env node
/**
 * DTU simulator CLI (see docs/dtu-simulator.md):
 *   node dist/scripts/dtu-sim.js --agent 127.0.0.1:9000 --registration ascii:DTU-0001 \
 *     --heartbeat hex:FE --heartbeat-interval-ms 1000 --serial /dev/pts/3 --baud 9600 [fault flags]
 */
import { describeFaults } from '../src/tools/dtu-sim/faults.js';
import { DTU_SIM_USAGE, parseDtuSimArgs, type DtuSimCliOptions } from '../src/tools/dtu-sim/cli-args.js';
import { startDtuSimulator } from '../src/tools/dtu-sim/simulator.js';

function stamp(): string {
  return new Date().toISOString();
}

async function main(): Promise<void> {
  let opts: DtuSimCliOptions;
  try {
    opts = parseDtuSimArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`dtu-sim: ${(err as Error).message}\n\n${DTU_SIM_USAGE}\n`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(`${DTU_SIM_USAGE}\n`);
    return;
  }
  const { statsIntervalMs, verbose, help: _help, ...simOptions } = opts;
  const sim = await startDtuSimulator({
    ...simOptions,
    log: (level, message) => {
      if (level === 'debug' && !verbose) return;
      process.stderr.write(`${stamp()} ${level} ${message}\n`);
    },
  });
  const mode = opts.agent
    ? `dial ${opts.agent.host}:${opts.agent.port}`
    : `listen ${opts.listen!.host}:${sim.address()?.port}`;
  process.stderr.write(
    `${stamp()} info dtu-sim ${mode} serial ${'path' in opts.serial ? opts.serial.path : '?'} seed ${sim.seed} faults: ${describeFaults(sim.faults())}\n`,
  );
  if (opts.listen) process.stdout.write(`LISTENING ${sim.address()?.port}\n`);
  if (verbose)
    sim.on('frame', (f: Buffer, parsed: boolean) =>
      process.stderr.write(`${stamp()} debug frame ${parsed ? 'rtu' : 'gap'} ${f.toString('hex')}\n`),
    );

  const printStats = (): void => {
    process.stderr.write(`${stamp()} stats ${JSON.stringify(sim.stats())}\n`);
  };
  const statsTimer = statsIntervalMs > 0 ? setInterval(printStats, statsIntervalMs) : undefined;

  process.on('SIGUSR1', () => {
    process.stderr.write(`${stamp()} info SIGUSR1: redial\n`);
    sim.redial().catch((err: Error) => process.stderr.write(`${stamp()} warn redial: ${err.message}\n`));
  });
  process.on('SIGUSR2', () => {
    const f = sim.faults();
    sim.setFaults({ ...f, silent: !f.silent });
    process.stderr.write(`${stamp()} info SIGUSR2: silent ${!f.silent ? 'on' : 'off'}\n`);
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    if (statsTimer) clearInterval(statsTimer);
    printStats();
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // a parent that pipes our stdin can stop us by closing it (tests)
  if (!process.stdin.isTTY) {
    process.stdin.on('end', stop);
    process.stdin.resume();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`dtu-sim: ${err.message}\n`);
  process.exit(1);
});
