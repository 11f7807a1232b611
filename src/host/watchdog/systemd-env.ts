/**
 * What systemd tells a Type=notify service through its environment (sd_watchdog_enabled):
 * NOTIFY_SOCKET, WATCHDOG_USEC (the WatchdogSec= interval) and WATCHDOG_PID (the process
 * meant to ping; absent means "whoever reads this"). Pure: env and pid come in.
 */
import type { WatchdogMode } from '../config.js';

export interface SystemdEnv {
  readonly notifySocket: string | undefined;
  /** WatchdogSec in ms when systemd expects pings aimed at this process, else undefined. */
  readonly watchdogMs: number | undefined;
  /** Why pings are not expected although WATCHDOG_USEC is set (foreign WATCHDOG_PID, bad value). */
  readonly ignoredReason: string | undefined;
}

export function readSystemdEnv(env: Readonly<Record<string, string | undefined>>, pid: number): SystemdEnv {
  const notifySocket = env.NOTIFY_SOCKET || undefined;
  const usecText = env.WATCHDOG_USEC;
  if (usecText === undefined || usecText === '')
    return { notifySocket, watchdogMs: undefined, ignoredReason: undefined };
  const usec = Number(usecText);
  if (!Number.isSafeInteger(usec) || usec <= 0) {
    return {
      notifySocket,
      watchdogMs: undefined,
      ignoredReason: `WATCHDOG_USEC=${usecText} is not a positive integer`,
    };
  }
  const pidText = env.WATCHDOG_PID;
  if (pidText !== undefined && pidText !== '' && Number(pidText) !== pid) {
    return {
      notifySocket,
      watchdogMs: undefined,
      ignoredReason: `WATCHDOG_PID=${pidText} is another process (we are ${pid})`,
    };
  }
  return { notifySocket, watchdogMs: usec / 1000, ignoredReason: undefined };
}

/** The mode in effect: the configured one, else systemd under a notify socket, else off. */
export function resolveWatchdogMode(configured: WatchdogMode | undefined, env: SystemdEnv): WatchdogMode {
  if (configured) return configured;
  return env.notifySocket ? 'systemd' : 'off';
}

/** Ping at half the interval, as sd_watchdog_enabled(3) recommends. */
export function pingIntervalMs(watchdogMs: number): number {
  return Math.max(1, Math.floor(watchdogMs / 2));
}
