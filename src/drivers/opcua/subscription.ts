/**
 * The device's subscription: one per session, monitored items grouped by their monitoring
 * parameters (one CreateMonitoredItems per group). A deadband the server refuses
 * (BadFilterNotAllowed, BadMonitoredItemFilterUnsupported…) is dropped for that item and
 * logged, so the tag still reports, only without the filter. node-opcua keeps the
 * subscription across its reconnections (transfer, or re-creation when the server lost it);
 * a re-creation the server refuses for an item only changes that item's status code
 * (no event), so `refused()` reads them again after each reconnection. Refused items are
 * created again on request (`retryRefused()`, the device paces it with a backoff): a node
 * added to the server since, or a limit raised, then reports without a new session.
 */
import type {
  ClientMonitoredItemBase,
  ClientSession,
  ClientSubscription,
  DataValue,
} from 'node-opcua-client';
import type { Logger } from '../../core/ports.js';
import type { OpcuaDeviceConfig, OpcuaTagConfig } from './config.js';
import type { OpcuaModule } from './session.js';

export interface StatusLike {
  readonly value: number;
  readonly name: string;
}

export interface SubscriptionSink {
  /** A value notification. */
  value(tag: OpcuaTagConfig, dataValue: DataValue | { readonly statusCode: StatusLike }): void;
  /** Any publish response (data or keep-alive): the subscription is alive. */
  alive(): void;
}

interface Planned {
  readonly tag: OpcuaTagConfig;
  readonly samplingInterval: number;
  readonly filter: OpcuaTagConfig['deadband'];
}

const FILTER_REFUSED = /Filter|DeadbandFilterInvalid/;

function groupKey(p: Planned, withFilter: boolean): string {
  const f = withFilter && p.filter ? `${p.filter.type}:${p.filter.value}` : '-';
  return `${p.samplingInterval}/${p.tag.queueSize}/${f}`;
}

/** The device's subscription and the monitored item of each tag. */
export class TagSubscription {
  /** The item that monitors each tag (the one without filter when the filter was refused). */
  readonly items = new Map<
    string,
    { readonly plan: Planned; readonly tag: OpcuaTagConfig; readonly item: ClientMonitoredItemBase }
  >();
  /** Tags whose deadband the server refused: monitored without it from then on. */
  readonly filterDropped = new Set<string>();

  constructor(
    readonly subscription: ClientSubscription,
    private readonly ua: OpcuaModule,
    private readonly sink: SubscriptionSink,
    private readonly logger: Logger,
  ) {}

  /** Creates the refused items again, each as a new item; resolves with the tags sent again. */
  async retryRefused(): Promise<readonly OpcuaTagConfig[]> {
    const again: Planned[] = [];
    for (const { plan, item } of this.items.values()) {
      if (!isRefused(item)) continue;
      // One refused at a re-creation is still in node-opcua's list (which would re-create it
      // beside the new one after a reconnection): drop it there, client side only, since the
      // server-side id it kept may now belong to another item.
      const handle = item.monitoringParameters.clientHandle;
      if (this.subscription.monitoredItems[handle] === item) delete this.subscription.monitoredItems[handle];
      again.push(plan);
    }
    if (again.length > 0) await monitorAll(this.ua, this, again, this.sink, this.logger);
    return again.map((p) => p.tag);
  }

  /** Tags whose monitored item the server refused (at creation, or when node-opcua re-created it). */
  refused(): Array<{ readonly tag: OpcuaTagConfig; readonly status: StatusLike }> {
    const out: Array<{ tag: OpcuaTagConfig; status: StatusLike }> = [];
    for (const { tag, item } of this.items.values())
      if (isRefused(item)) out.push({ tag, status: itemStatus(item)! });
    return out;
  }
}

function itemStatus(item: ClientMonitoredItemBase): StatusLike | undefined {
  return item.statusCode ?? item.result?.statusCode;
}

/** Good with info bits is a created item. */
function isRefused(item: ClientMonitoredItemBase): boolean {
  const status = itemStatus(item);
  return status !== undefined && status.value >>> 30 !== 0;
}

export async function subscribe(
  ua: OpcuaModule,
  session: ClientSession,
  config: OpcuaDeviceConfig,
  sink: SubscriptionSink,
  logger: Logger,
): Promise<TagSubscription> {
  const s = config.subscription;
  const subscription = await session.createSubscription2({
    requestedPublishingInterval: s.publishingIntervalMs,
    requestedMaxKeepAliveCount: s.keepAliveCount,
    requestedLifetimeCount: s.lifetimeCount,
    maxNotificationsPerPublish: s.maxNotificationsPerPublish,
    publishingEnabled: true,
    priority: 1,
  });
  subscription.on('keepalive', () => sink.alive());
  subscription.on('received_notifications', () => sink.alive());
  const planned: Planned[] = config.tags.map((tag) => ({
    tag,
    samplingInterval: tag.samplingIntervalMs ?? tag.intervalMs ?? config.intervalMs,
    filter: tag.deadband,
  }));
  const tags = new TagSubscription(subscription, ua, sink, logger);
  await monitorAll(ua, tags, planned, sink, logger);
  return tags;
}

/** Creates the items, with their deadband unless the server refused it (then again without). */
async function monitorAll(
  ua: OpcuaModule,
  tags: TagSubscription,
  planned: readonly Planned[],
  sink: SubscriptionSink,
  logger: Logger,
): Promise<void> {
  const effective = planned.map((p) =>
    tags.filterDropped.has(p.tag.name) ? { ...p, filter: undefined } : p,
  );
  const refused = await monitor(ua, tags, effective, true, sink);
  if (refused.length === 0) return;
  logger.warn(
    { tags: refused.map((p) => p.tag.name) },
    'opcua server refused the deadband filter; monitoring without it',
  );
  for (const p of refused) tags.filterDropped.add(p.tag.name);
  await monitor(ua, tags, refused, false, sink);
}

/** Creates the items; returns those refused only because of their filter. */
async function monitor(
  ua: OpcuaModule,
  tags: TagSubscription,
  planned: readonly Planned[],
  withFilter: boolean,
  sink: SubscriptionSink,
): Promise<Planned[]> {
  const groups = new Map<string, Planned[]>();
  for (const p of planned) {
    const key = groupKey(p, withFilter);
    const group = groups.get(key) ?? [];
    group.push(p);
    groups.set(key, group);
  }
  const refused: Planned[] = [];
  for (const members of groups.values()) {
    const first = members[0];
    if (!first) continue;
    const filter =
      withFilter && first.filter
        ? new ua.DataChangeFilter({
            trigger: ua.DataChangeTrigger.StatusValue,
            deadbandType:
              first.filter.type === 'absolute' ? ua.DeadbandType.Absolute : ua.DeadbandType.Percent,
            deadbandValue: first.filter.value,
          })
        : null;
    const group = await tags.subscription.monitorItems(
      members.map((p) => ({ nodeId: p.tag.nodeId, attributeId: ua.AttributeIds.Value })),
      {
        samplingInterval: first.samplingInterval,
        queueSize: first.tag.queueSize,
        discardOldest: true,
        filter,
      },
      ua.TimestampsToReturn.Both,
    );
    group.on('changed', (_item, dataValue, index) => {
      const member = members[index];
      if (member) sink.value(member.tag, dataValue);
    });
    group.monitoredItems.forEach((item, i) => {
      const member = members[i];
      if (!member) return;
      tags.items.set(member.tag.name, { plan: member, tag: member.tag, item });
      // One refused for another cause than its filter stays in `refused()`.
      if (isRefused(item) && filter && FILTER_REFUSED.test(itemStatus(item)!.name)) refused.push(member);
    });
  }
  return refused;
}
