/** Whether a new source may become a server link's: the one rule for TCP connections and UDP datagrams. */
import type { AllowList } from '../../../core/allow-list.js';
import { HEARTBEAT_OVERDUE, type DtuLink } from './link.js';

/**
 * Why a source that presented `link`'s registration may not become the link: it is outside
 * the link's allowFrom, or the link is live (a byte within 1.5 heartbeat intervals) and
 * replaceLive is off. A registration string is no secret, so anyone who learns it must not
 * take over a working link and receive its polls and writes; a DTU whose old socket or
 * source went silent (NAT drop, new 4G address) still gets back in. Counts the refusal.
 */
export function takeoverRefusal(
  link: DtuLink,
  source: string | undefined,
  allow: AllowList | undefined,
  nowMono: number,
): string | undefined {
  if (allow && !allow.allows(source)) {
    link.counters.rejectedSource++;
    return 'source not in the link allowFrom';
  }
  if (!link.up || link.config.mode !== 'server' || link.config.replaceLive) return undefined;
  const silentMs = nowMono - link.lastRxMono;
  // Overdue, not merely one interval: a heartbeat a few ms late is jitter, not a dead link.
  if (silentMs > HEARTBEAT_OVERDUE * link.config.heartbeatIntervalMs) return undefined;
  link.counters.takeoverRefused++;
  return `link is live at ${link.remote} (last byte ${Math.round(silentMs)} ms ago) and replaceLive is off`;
}
