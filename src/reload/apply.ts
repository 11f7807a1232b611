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
import type { DriverFamily } from '../drivers/types.js';
import { dtuOf, type ReloadPlan } from './diff.js';

/** What the agent lends a reload (Agent.reloadTarget()). */
export interface ReloadTarget {
  config(): EdgeConfig;
  /** Builds and init()s a device in the running families (shared lines), no I/O. */
  build(
    device: AgentDeviceConfig,
    index: number,
  ): Promise<BuiltDevice & { readonly problem?: DeviceProblem }>;
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
  /**
   * Stops the CIP-22 gateway (sessions refused, committed records stay in the outbox) and
   * starts one with `config.cip22` when enabled; piles reconnect. Devices are not touched.
   */
  replaceCip22?(config: EdgeConfig): Promise<void>;
  /** The family that owns the `dtu` section's links (Modbus); absent: DTU links need a restart. */
  dtuLinks?(): Pick<DriverFamily<unknown>, 'upsertLink' | 'removeLink' | 'reconfigureSection'> | undefined;
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
  const build = async (): Promise<BuiltDevice[]> => {
    const add: BuiltDevice[] = [];
    for (const [index, device] of config.devices.entries()) {
      if (!start.has(device.name)) continue;
      // validate.ts built the same config already: a problem here is what init() says with the
      // live lines present, and the device parks with its code like at start.
      const { problem: _problem, ...built } = await target.build(device, index);
      add.push(built);
    }
    return add;
  };
  const stopped = [...changed, ...plan.devices.removed];
  if (plan.dtu.server || plan.dtu.added.length + plan.dtu.removed.length + plan.dtu.changed.length > 0) {
    // The devices of a changed or removed link stop before it closes (no poll sees it torn
    // down), and are built once the new link exists (they attach to its transport).
    await target.replace(stopped, [], config);
    await applyDtuLinks(target, plan, config);
    await target.replace([], await build(), config);
  } else await target.replace(stopped, await build(), config);
  if (plan.mqtt.length > 0) await target.replaceForwarder(config);
  // after the forwarder: a new gateway takes pile commands from the current channel
  if (plan.cip22) {
    if (!target.replaceCip22) throw new Error('applyLive: the agent cannot replace the CIP-22 gateway');
    await target.replaceCip22(config);
  }
  return { started: [...start], stopped };
}

/** Replaces the DTU listener, removes, replaces and adds the links the plan names; the others are not touched. */
async function applyDtuLinks(target: ReloadTarget, plan: ReloadPlan, config: EdgeConfig): Promise<void> {
  const family = target.dtuLinks?.();
  if (!family?.upsertLink || !family.removeLink || !family.reconfigureSection)
    throw new Error('applyLive: no family takes DTU links live');
  // first: a server link added now registers through the new listener
  if (plan.dtu.server) await family.reconfigureSection(dtuOf(config));
  for (const name of plan.dtu.removed) await family.removeLink(name);
  const links = dtuOf(config)?.links ?? [];
  for (const name of [...plan.dtu.changed, ...plan.dtu.added]) {
    const link = links.find((l) => l.name === name);
    if (link) await family.upsertLink(link);
  }
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
