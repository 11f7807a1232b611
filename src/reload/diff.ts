/**
 * What a new configuration changes, section by section, and how each change is applied:
 * live (devices, the command router, DTU links, the CIP-22 gateway, a broker change) or by
 * a controlled restart (everything else). Pure:
 * two parsed configs in, a plan out. The live/restart split is documented in
 * docs/remote-config.md; a key moves to the live list only with a test that shows the
 * unchanged devices keep polling through its change.
 */
import type { EdgeConfig } from '../config/schema.js';
import type { DtuConfig } from '../drivers/modbus/dtu/config.js';
import type { AgentDeviceConfig } from '../drivers/schemas.js';

export interface ChangedDevice {
  readonly name: string;
  /** The keys under the device that differ (`intervalMs`, `tags[2]`, …). */
  readonly paths: readonly string[];
}

export interface DevicePlan {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly ChangedDevice[];
  readonly unchanged: readonly string[];
}

export interface NamedPlan {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
}

export interface ReloadPlan {
  readonly devices: DevicePlan;
  /** DTU links by name, and whether the DTU server (listener) settings changed. */
  readonly dtu: NamedPlan & { readonly server: boolean };
  /** S7 connections (one per S7 device: the PLC address, rack/slot, TSAPs). */
  readonly s7: NamedPlan;
  readonly cip22: boolean;
  /** Changed keys under `mqtt` (empty: unchanged); live unless forwarding turns on or off. */
  readonly mqtt: readonly string[];
  readonly commands: boolean;
  /** Changed keys that the running agent cannot take live: applied by a controlled restart. */
  readonly restart: readonly string[];
  /** Nothing differs at all. */
  readonly empty: boolean;
}

/** Sections the running agent replaces in place. Everything else needs a restart. */
const LIVE_SECTIONS: ReadonlySet<string> = new Set(['devices', 'commands', 'cip22']);
/** Read from the local file only (where the history lives, which keys sign): never pushed. */
const LOCAL_SECTIONS: ReadonlySet<string> = new Set(['reload']);

/** JSON with sorted keys: two equal configs give the same text whatever the key order. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}

const same = (a: unknown, b: unknown): boolean => stableJson(a) === stableJson(b);

/** The paths (relative to the value) where two JSON values differ, to a bounded depth. */
export function changedPaths(a: unknown, b: unknown, prefix = '', depth = 3): string[] {
  if (same(a, b)) return [];
  const objA = a !== null && typeof a === 'object';
  const objB = b !== null && typeof b === 'object';
  if (depth === 0 || !objA || !objB || Array.isArray(a) !== Array.isArray(b)) return [prefix || '(root)'];
  const out: string[] = [];
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++)
      out.push(...changedPaths(a[i], b[i], `${prefix}[${i}]`, depth - 1));
    return out;
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(ra), ...Object.keys(rb)])].sort();
  for (const key of keys)
    out.push(...changedPaths(ra[key], rb[key], prefix ? `${prefix}.${key}` : key, depth - 1));
  return out;
}

function byName<T extends { name: string }>(items: readonly T[]): Map<string, T> {
  return new Map(items.map((item) => [item.name, item]));
}

function namedPlan<T extends { name: string }>(before: readonly T[], after: readonly T[]): NamedPlan {
  const a = byName(before);
  const b = byName(after);
  return {
    added: [...b.keys()].filter((n) => !a.has(n)),
    removed: [...a.keys()].filter((n) => !b.has(n)),
    changed: [...b].filter(([n, item]) => a.has(n) && !same(a.get(n), item)).map(([n]) => n),
  };
}

function devicePlan(before: readonly AgentDeviceConfig[], after: readonly AgentDeviceConfig[]): DevicePlan {
  const old = byName(before);
  const added: string[] = [];
  const changed: ChangedDevice[] = [];
  const unchanged: string[] = [];
  for (const device of after) {
    const previous = old.get(device.name);
    if (!previous) added.push(device.name);
    else if (same(previous, device)) unchanged.push(device.name);
    else changed.push({ name: device.name, paths: changedPaths(previous, device, '', 2) });
  }
  const names = new Set(after.map((d) => d.name));
  return { added, removed: before.filter((d) => !names.has(d.name)).map((d) => d.name), changed, unchanged };
}

/** S7 connection of a device: what identifies the PLC session (not its tags). */
function s7Connections(devices: readonly AgentDeviceConfig[]): Array<{ name: string; connection: unknown }> {
  return devices.flatMap((d) => (d.driver === 's7' ? [{ name: d.name, connection: d.connection }] : []));
}

type ModbusConnection = Extract<AgentDeviceConfig, { driver: 'modbus' }>['connection'];

/** The physical link a Modbus device uses, and the settings every user of it must share. */
function lineOf(connection: ModbusConnection): { key: string; settings: unknown } {
  switch (connection.transport) {
    case 'tcp':
      return { key: `tcp:${connection.host}:${connection.port}`, settings: null };
    case 'rtu': {
      const { path, ...settings } = connection;
      return { key: `rtu:${path}`, settings };
    }
    case 'dtu':
      return { key: `dtu:${connection.dtu}`, settings: connection.interFrameGapMs };
  }
}

/**
 * Shared lines whose own settings differ (baud rate of an RS-485 path, the gap on a DTU
 * link): the running line keeps the settings it was opened with, so that change needs a
 * restart. Moving a device to another line, or a TCP gateway, is live.
 */
function lineSettingChanges(
  before: readonly AgentDeviceConfig[],
  after: readonly AgentDeviceConfig[],
): string[] {
  const lines = (devices: readonly AgentDeviceConfig[]): Map<string, string> => {
    const out = new Map<string, string>();
    for (const d of devices) {
      for (const c of d.driver === 'modbus' ? [d.connection] : []) {
        const line = lineOf(c);
        out.set(line.key, stableJson(line.settings));
      }
      const secondary = d.failover?.secondary;
      if (secondary?.driver === 'modbus') {
        const line = lineOf(secondary.connection);
        out.set(line.key, stableJson(line.settings));
      }
    }
    return out;
  };
  const a = lines(before);
  const out: string[] = [];
  for (const [key, settings] of lines(after)) {
    const previous = a.get(key);
    if (previous !== undefined && previous !== settings)
      out.push(`devices (line ${key}: connection settings)`);
  }
  return out;
}

export function diffConfig(before: EdgeConfig, after: EdgeConfig): ReloadPlan {
  const restart: string[] = [];
  const sections = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort() as Array<
    keyof EdgeConfig
  >;
  // A broker change is live (a new forwarder on the same outbox) while there is a broker
  // before and after; turning forwarding on or off changes which parts run: restart.
  const mqttLive = before.mqtt.url !== undefined && after.mqtt.url !== undefined;
  for (const section of sections) {
    if (LIVE_SECTIONS.has(section) || LOCAL_SECTIONS.has(section)) continue;
    if (section === 'mqtt' && mqttLive) continue;
    if ((section as string) === 'dtu' && dtuLinksLive(dtuOf(before), dtuOf(after))) continue;
    restart.push(...changedPaths(before[section], after[section], section, 2));
  }
  restart.push(...lineSettingChanges(before.devices, after.devices));
  const [dtuBefore, dtuAfter] = [dtuOf(before), dtuOf(after)];
  const dtuServer =
    !same(dtuBefore?.server, dtuAfter?.server) || !same(dtuBefore?.udpServer, dtuAfter?.udpServer);
  const dtu = namedPlan(dtuBefore?.links ?? [], dtuAfter?.links ?? []);
  const devices = relinked(devicePlan(before.devices, after.devices), after.devices, dtu.changed);
  const plan: ReloadPlan = {
    devices,
    dtu: { ...dtu, server: dtuServer },
    s7: namedPlan(s7Connections(before.devices), s7Connections(after.devices)),
    cip22: !same(before.cip22, after.cip22),
    mqtt: changedPaths(before.mqtt, after.mqtt, 'mqtt', 2),
    commands: !same(before.commands, after.commands),
    restart,
    empty: same({ ...before, reload: null }, { ...after, reload: null }),
  };
  return plan;
}

/** One line per change, for logs, the CLI and the result message. */
export function summarisePlan(plan: ReloadPlan): string[] {
  const d = plan.devices;
  const out: string[] = [];
  if (d.added.length) out.push(`devices added: ${d.added.join(', ')}`);
  if (d.removed.length) out.push(`devices removed: ${d.removed.join(', ')}`);
  for (const c of d.changed) out.push(`device ${c.name} changed: ${c.paths.join(', ')}`);
  if (plan.commands) out.push('commands changed');
  if (plan.cip22) out.push('cip22 changed (gateway restarts, piles reconnect)');
  out.push(...dtuLines(plan));
  if (plan.mqtt.length > 0 && !plan.restart.some((k) => k.startsWith('mqtt')))
    out.push(`mqtt changed: ${plan.mqtt.join(', ')} (forwarder reconnects)`);
  for (const key of plan.restart) out.push(`restart: ${key}`);
  return out;
}

/** The live DTU changes (none when the `dtu` section restarts: the restart lines say it). */
function dtuLines(plan: ReloadPlan): string[] {
  const dtu = plan.dtu;
  if (plan.restart.some((k) => k.startsWith('dtu'))) return [];
  const out = dtu.server ? ['dtu listener changed (registered links keep their sockets)'] : [];
  for (const [what, names] of [
    ['added', dtu.added],
    ['removed', dtu.removed],
    ['replaced', dtu.changed],
  ] as const)
    if (names.length > 0) out.push(`dtu links ${what}: ${names.join(', ')}`);
  return out;
}

/** The Modbus driver's `dtu` section (driver sections are typed by their driver, not by EdgeConfig). */
export function dtuOf(config: EdgeConfig): DtuConfig | undefined {
  return (config as unknown as { readonly dtu?: DtuConfig }).dtu;
}

/**
 * DTU links and the TCP listener are live (the Modbus family replaces one link, or the
 * listener, alone) while the hub stays: a `dtu` section before and after, the same UDP port
 * and echo setting, and only TCP links added, removed or changed (UDP links share one
 * endpoint built at start).
 */
function dtuLinksLive(before: DtuConfig | undefined, after: DtuConfig | undefined): boolean {
  const rest = (c: DtuConfig): unknown => ({ ...c, links: null, server: null });
  if (!before || !after || !same(rest(before), rest(after))) return false;
  const plan = namedPlan(before.links, after.links);
  const touched = new Set([...plan.added, ...plan.removed, ...plan.changed]);
  return [...before.links, ...after.links].every((l) => !touched.has(l.name) || l.transport === 'tcp');
}

/** An unchanged device on a changed DTU link is re-created with its link: it becomes changed. */
function relinked(
  plan: DevicePlan,
  after: readonly AgentDeviceConfig[],
  links: readonly string[],
): DevicePlan {
  if (links.length === 0) return plan;
  const onLink = (d: AgentDeviceConfig): string | undefined => {
    const secondary = d.failover?.secondary;
    for (const c of [
      d.driver === 'modbus' ? d.connection : undefined,
      secondary?.driver === 'modbus' ? secondary.connection : undefined,
    ])
      if (c?.transport === 'dtu' && links.includes(c.dtu)) return c.dtu;
    return undefined;
  };
  const moved = after.filter((d) => plan.unchanged.includes(d.name) && onLink(d) !== undefined);
  if (moved.length === 0) return plan;
  return {
    ...plan,
    changed: [...plan.changed, ...moved.map((d) => ({ name: d.name, paths: [`dtu.links[${onLink(d)!}]`] }))],
    unchanged: plan.unchanged.filter((n) => !moved.some((d) => d.name === n)),
  };
}
