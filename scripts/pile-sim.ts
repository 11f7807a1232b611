#!/usr/bin/env node
/**
 * CIP-22 pile simulator (same as `edge-agent pile-sim`; --help for options):
 *   node dist/scripts/pile-sim.js --port 7722 --ca root.pem --piles piles/ --count 10 --duration-s 60
 */
import { pileSimCommand } from '../src/cli/pile-sim.js';

pileSimCommand(
  process.argv.slice(2),
  (line) => void process.stdout.write(`${line}\n`),
  (line) => void process.stderr.write(`${line}\n`),
).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`pile-sim: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  },
);
