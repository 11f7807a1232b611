/**
 * CPU pinning for the event-loop probe rounds: the agent's main thread alone on CPU 0,
 * every other thread of the agent (verify workers, libuv's pool) and the whole bench
 * process on CPU 1. A turn's wall time is then its own work, not the time the main thread
 * waited for a CPU while a worker or the client ran (this box has 2 cores, so a process-CPU
 * bound counted the workers' time in). Threads the main thread starts later inherit CPU 0,
 * so this runs after the warm-up has started them.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export interface Pinning {
  /** Gives this process every CPU back (the agent is stopped by its round). */
  release(): void;
}

function taskset(args: readonly string[]): void {
  execFileSync('taskset', args, { stdio: 'ignore' });
}

/** Why pinning cannot run here, or undefined when it can. */
export function pinningUnavailable(): string | undefined {
  if (availableParallelism() < 2) return 'fewer than 2 CPUs';
  try {
    taskset(['--version']);
    return undefined;
  } catch {
    return 'no taskset (util-linux)';
  }
}

export function pinAgentMainThread(agentPid: number): Pinning {
  const last = availableParallelism() - 1;
  taskset(['-p', '-c', '0', String(agentPid)]);
  for (const tid of readdirSync(`/proc/${agentPid}/task`)) {
    if (tid !== String(agentPid)) taskset(['-p', '-c', `1-${last}`, tid]);
  }
  taskset(['-a', '-p', '-c', `1-${last}`, String(process.pid)]);
  return { release: () => taskset(['-a', '-p', '-c', `0-${last}`, String(process.pid)]) };
}
