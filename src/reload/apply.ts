/**
 * Live apply of a validated config whose plan has no restart keys: only the devices that
 * differ are touched. New drivers are built in the running families first (they attach to
 * the lines the unchanged devices hold, with no I/O), then the changed and removed devices
 * stop, then the changed and added ones start. An unchanged device keeps its driver
 * object, its poller and its connection: no reconnect, no gap in its seq.
 */
import type { EdgeConfig } from '../config/schema.js';
import type { PollerStats } from '../core/poller.js';
import type { CommandChannel, DeviceDriver } from '../core/ports.js';
import type { AgentEvent } from '../core/types.js';
import type { BuiltDevice, DeviceProblem } from '../drivers/build.js';
import type { AgentDeviceConfig } from '../drivers/schemas.js';
import type { ReloadPlan } from './diff.js';

/** What the agent lends a reload (Agent.reloadTarget()). */
export interface ReloadTarget {
  config(): EdgeConfig;
  /** Builds and init()s a device in the running families (shared lines), no I/O. */
  build(device: AgentDeviceConfig, index: number): BuiltDevice & { readonly problem?: DeviceProblem };
  /** Stops the pollers named in `remove`, adopts `config`, starts pollers for `add`. */
  replace(remove: readonly string[], add: readonly BuiltDevice[], config: EdgeConfig): Promise<void>;
  /**
   * Stops the forwarder (its in-flight window finishes; unacknowledged records stay in the
   * outbox) and starts one with `config.mqtt`; subscriptions move to the new connection.
   */
  replaceForwarder(config: EdgeConfig): Promise<void>;
  devices(): ReadonlyArray<{ readonly stats: PollerStats; readonly driver: DeviceDriver }>;
  emit(event: AgentEvent): void;
  /** The active config changed (hash, version, trial): republish what names it (the retained birth). */
  announce?(): void;
  channel(): CommandChannel | undefined;
}

export interface LiveApplyResult {
  /** Devices stopped and started again, or started new: what a trial watches. */
  readonly started: readonly string[];
  readonly stopped: readonly string[];
}

export async function applyLive(
  target: ReloadTarget,
  plan: ReloadPlan,
  config: EdgeConfig,
): Promise<LiveApplyResult> {
  if (plan.restart.length > 0) throw new Error('applyLive: the plan needs a restart');
  const changed = plan.devices.changed.map((c) => c.name);
  const start = new Set([...changed, ...plan.devices.added]);
  const add: BuiltDevice[] = [];
  config.devices.forEach((device, index) => {
    if (!start.has(device.name)) return;
    // validate.ts built the same config already: a problem here is what init() says with the
    // live lines present, and the device parks with its code like at start.
    const { problem: _problem, ...built } = target.build(device, index);
    add.push(built);
  });
  const stopped = [...changed, ...plan.devices.removed];
  await target.replace(stopped, add, config);
  if (plan.mqtt.length > 0) await target.replaceForwarder(config);
  return { started: [...start], stopped };
}

/**
 * A trial's device verdict: the devices the apply started, and whether any of them had a
 * poll with every value good. None at all (all bad or none polled yet) is unhealthy.
 */
export function devicesVerdict(
  target: ReloadTarget,
  started: readonly string[],
): { ok: boolean; bad: string[] } {
  if (started.length === 0) return { ok: true, bad: [] };
  const wanted = new Set(started);
  const bad: string[] = [];
  let good = 0;
  for (const { stats } of target.devices()) {
    if (!wanted.has(stats.device)) continue;
    if (stats.polls - stats.pollErrors > 0) good++;
    else bad.push(stats.device);
  }
  return { ok: good > 0, bad };
}
