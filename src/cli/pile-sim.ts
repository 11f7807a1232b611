/** `edge-agent pile-sim`: CIP-22 reference piles (src/tools/pile-sim). */
import { PILE_SIM_USAGE, parsePileSimArgs, type PileSimArgs } from '../tools/pile-sim/args.js';
import { runPileSim } from '../tools/pile-sim/runner.js';

export { PILE_SIM_USAGE };

/** Exit code: 0 all ACKed, 1 frames unacknowledged or a pile refused, 2 bad arguments. */
export async function pileSimCommand(
  argv: string[],
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) return (out(PILE_SIM_USAGE), 0);
  let args: PileSimArgs;
  try {
    args = parsePileSimArgs(argv);
  } catch (error) {
    err(`pile-sim: ${(error as Error).message}\n\n${PILE_SIM_USAGE}`);
    return 2;
  }
  const stop = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const summary = await runPileSim(args, err, stop);
  out(JSON.stringify(summary));
  return summary.unacked === 0 && summary.refused === 0 ? 0 : 1;
}
