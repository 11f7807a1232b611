/**
 * The device's subscription: one per session, monitored items grouped by their monitoring
 * parameters (one CreateMonitoredItems per group). A deadband the server refuses
 * (BadFilterNotAllowed, BadMonitoredItemFilterUnsupported…) is dropped for that item and
 * logged, so the tag still reports, only without the filter. node-opcua keeps the
 * subscription across its reconnections (transfer, or re-creation when the server lost it).
 */
import type { ClientSession, ClientSubscription, DataValue } from 'node-opcua-client';
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
  /** The server refused the tag's monitored item: it will never notify, so it stays bad. */
  unmonitored(tag: OpcuaTagConfig, status: StatusLike): void;
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

export async function subscribe(
  ua: OpcuaModule,
  session: ClientSession,
  config: OpcuaDeviceConfig,
  sink: SubscriptionSink,
  logger: Logger,
): Promise<ClientSubscription> {
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
  const refused = await monitor(ua, subscription, planned, true, sink);
  if (refused.length > 0) {
    logger.warn(
      { tags: refused.map((p) => p.tag.name) },
      'opcua server refused the deadband filter; monitoring without it',
    );
    await monitor(ua, subscription, refused, false, sink);
  }
  return subscription;
}

/** Creates the items; returns those refused only because of their filter. */
async function monitor(
  ua: OpcuaModule,
  subscription: ClientSubscription,
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
    const group = await subscription.monitorItems(
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
      const status = item.result?.statusCode ?? item.statusCode;
      // Good with info bits is a created item.
      if (!member || status.value >>> 30 === 0) return;
      if (filter && FILTER_REFUSED.test(status.name)) refused.push(member);
      else sink.unmonitored(member.tag, status);
    });
  }
  return refused;
}
