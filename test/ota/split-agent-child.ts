/**
 * The agent's half of the split in its own process, run by the tests as a real unprivileged
 * uid (setpriv): OtaRequester against a config file.
 *   node split-agent-child.js CONFIG_JSON apply SOURCE [SHA256 FORCE COMMAND_FILE]
 *   node split-agent-child.js CONFIG_JSON healthy|trial-timeout VERSION
 *   node split-agent-child.js CONFIG_JSON emit | resume
 */
import { readFileSync } from 'node:fs';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { OtaConfig } from '../../src/config/sections/ota.js';
import { OtaRequester } from '../../src/ota/requester.js';

const [configFile, op, arg, sha256, force, commandFile] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configFile ?? '', 'utf8')) as OtaConfig;
const requester = new OtaRequester({
  config,
  logger: silentLogger,
  clock: systemClock,
  downloadBackoffMs: 0,
  // CRASH_AT=<point>: killed there, as a power cut would stop the agent mid-download.
  hook: (point) => {
    if (point === process.env.CRASH_AT) process.kill(process.pid, 'SIGKILL');
  },
});

async function main(): Promise<void> {
  if (op === 'apply') {
    const result = await requester.apply({
      source: arg ?? '',
      origin: arg?.startsWith('https:') ? 'command' : 'cli',
      ...(sha256 ? { sha256 } : {}),
      force: force === 'force',
      ...(commandFile ? { command: readFileSync(commandFile, 'utf8'), commandId: 'cmd-force-01' } : {}),
    });
    process.stdout.write(`requested ${result.version}\n`);
  } else if (op === 'resume') {
    process.stdout.write(`resumed ${(await requester.resume())?.version ?? 'nothing'}\n`);
  } else if (op === 'healthy') await requester.healthy(arg ?? '');
  else if (op === 'trial-timeout') await requester.trialTimeout(arg ?? '');
  else if (op === 'emit') {
    // As the agent at start: hand the events to the outbox (here: stdout), then say so.
    const events = await requester.pendingEvents();
    process.stdout.write(`${events.map((e) => e.type).join(',')}\n`);
    await requester.eventsEmitted(events.length);
  } else throw new Error(`unknown op ${op}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  throw error;
});
