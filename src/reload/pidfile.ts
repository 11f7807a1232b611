/**
 * `<historyDir>/agent.pid`, by which `edge-agent reload` finds the agent to signal. The CLI
 * typically runs as root while the agent (User=edge-agent) owns the directory, so the file
 * is not trusted as it stands: it names the pid and that process's start time
 * (/proc/<pid>/stat), and the CLI signals the pid only while the same process still runs
 * (a stale file whose pid was reused after a crash names another process) and is owned by
 * the user the file belongs to (whoever can write the file can only make the CLI signal
 * processes that user could signal itself).
 */
import { lstatSync, readFileSync, statSync } from 'node:fs';

export const PID_FILE = 'agent.pid';

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat). */
export function processStartTime(pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** What the agent writes into its pid file. */
export function pidFileText(): string {
  return `${process.pid} ${processStartTime('self') ?? ''}`.trim() + '\n';
}

/** The pid the file names, if that process is the one that wrote it (see above); else undefined. */
export function verifiedPid(file: string): number | undefined {
  try {
    const info = lstatSync(file);
    if (!info.isFile()) return undefined;
    const [pidText, started] = readFileSync(file, 'utf8').trim().split(/\s+/);
    const pid = Number(pidText);
    if (!Number.isInteger(pid) || pid <= 1 || started === undefined) return undefined;
    if (processStartTime(pid) !== started) return undefined;
    if (statSync(`/proc/${pid}`).uid !== info.uid) return undefined;
    return pid;
  } catch {
    return undefined;
  }
}
