/**
 * How the release runs node: its V8 flags and the environment its launcher (bin/edge-agent)
 * sets. One source for the launcher and for the benches that claim to measure the agent as
 * the release runs it (`npm run bench -- mem`, `v8-flags`, `imports`).
 */

/**
 * A small young generation keeps RSS flat on 512 MB boxes (README, "V8 flags, measured").
 * --single-threaded-gc: on a Pi-sized CPU budget (the station bench's 25 % of a core) V8's GC
 * helper threads spend the same quota as the event loop and a major GC's concurrent marking
 * used up whole CFS periods; GC on the main thread halved the station's ACK p99 at the same
 * CPU and RSS (README, "Round five").
 * --no-allocation-site-pretenuring: V8 had decided to allocate the readings' TagValues and the
 * record bodies straight in old space (a site whose objects once survived is pretenured for
 * good), so each second's readings died there and the station ran 9 major GCs a minute
 * instead of 3, at 16 % more CPU (README, "Round six").
 * The launcher's EDGE_AGENT_NODE_FLAGS come after these, so `--no-single-threaded-gc` or
 * `--allocation-site-pretenuring` there undoes either.
 */
export const RELEASE_NODE_FLAGS = [
  '--max-semi-space-size=1',
  '--optimize-for-size',
  '--single-threaded-gc',
  '--no-allocation-site-pretenuring',
] as const;

/**
 * Defaults the launcher exports unless the environment (the unit's EnvironmentFile) already
 * sets them; glibc reads them when node starts (README, "Where the RSS lives").
 * MALLOC_ARENA_MAX: glibc gives every thread that mallocs (V8's compiler and GC workers,
 * libuv's pool) an arena of its own and keeps what it freed there; two arenas measured
 * about 4-5 MB less RSS on a 100 × 50 Modbus station. Not here: MALLOC_MMAP_THRESHOLD_=32768
 * (TurboFan's compile zones back to the kernel after each compile) saved 3-7 MB more but
 * measured 6-10 % more CPU, so it is an operator's choice in /etc/edge-agent/environment.
 */
export const RELEASE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/**
 * The release's `bin/edge-agent`. `exec` keeps the PID: systemd's MainPID, sd_notify
 * attribution and the watchdog all see node itself. `readlink -f` pins the release the
 * process started from, so an OTA swapping `current` under a running agent never mixes two
 * releases' files.
 */
export function launcherScript(): string {
  const env = Object.entries(RELEASE_ENV).map(([k, v]) => `export ${k}="\${${k}:-${v}}"`);
  return `#!/bin/sh
# edge-agent launcher: runs this release's CLI with the device's Node (Debian's nodejs).
# The V8 flags keep the young generation small (flat RSS on 512 MB boxes). EDGE_AGENT_NODE_FLAGS
# (e.g. --no-opt, set in /etc/edge-agent/environment) adds flags NODE_OPTIONS refuses: README,
# "V8 flags, measured". Split on spaces, never globbed. The malloc settings apply however the
# agent is started (systemd or by hand); the environment overrides them.
here=$(dirname "$(readlink -f "$0")")
set -f
${env.join('\n')}
exec "\${EDGE_AGENT_NODE:-/usr/bin/node}" ${RELEASE_NODE_FLAGS.join(' ')} \${EDGE_AGENT_NODE_FLAGS:-} "$here/../dist/src/cli/main.js" "$@"
`;
}
