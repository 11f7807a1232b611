/**
 * The device's subscription: one per session, monitored items grouped by their monitoring
 * parameters (one CreateMonitoredItems per group). A deadband the server refuses
 * (BadFilterNotAllowed, BadMonitoredItemFilterUnsupported…) is dropped for that item and
 * logged, so the tag still reports, only without the filter. node-opcua keeps the
 * subscription across its reconnections (transfer, or re-creation when the server lost it);
 * a re-creation the server refuses for an item only changes that item's status code
 * (no event), so `refused()` reads them again after each reconnection.
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
    { readonly tag: OpcuaTagConfig; readonly item: ClientMonitoredItemBase }
  >();

  constructor(readonly subscription: ClientSubscription) {}

  /** Tags whose monitored item the server refused (at creation, or when node-opcua re-created it). */
  refused(): Array<{ readonly tag: OpcuaTagConfig; readonly status: StatusLike }> {
    const out: Array<{ tag: OpcuaTagConfig; status: StatusLike }> = [];
    for (const { tag, item } of this.items.values()) {
      const status = item.statusCode ?? item.result?.statusCode;
      // Good with info bits is a created item.
      if (status && status.value >>> 30 !== 0) out.push({ tag, status });
    }
    return out;
  }
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
  const tags = new TagSubscription(subscription);
  const refused = await monitor(ua, tags, planned, true, sink);
  if (refused.length > 0) {
    logger.warn(
      { tags: refused.map((p) => p.tag.name) },
      'opcua server refused the deadband filter; monitoring without it',
    );
    await monitor(ua, tags, refused, false, sink);
  }
  return tags;
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
      tags.items.set(member.tag.name, { tag: member.tag, item });
      // Good with info bits is a created item; one refused for another cause stays in `refused()`.
      const status = item.statusCode ?? item.result?.statusCode;
      if (status.value >>> 30 !== 0 && filter && FILTER_REFUSED.test(status.name)) refused.push(member);
    });
  }
  return refused;
}
