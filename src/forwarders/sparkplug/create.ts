/** The Sparkplug uplink of an agent config: ids default to the agent's site and id. */
import { dirname, join } from 'node:path';
import type { EdgeConfig } from '../../config/schema.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/ports.js';
import { fileBdSeqStore } from './bdseq.js';
import { sparkplugDevices } from './metrics.js';
import { SparkplugUplink } from './uplink.js';

export function createSparkplugUplink(
  config: EdgeConfig,
  deps: {
    readonly clock: Clock;
    readonly logger: Logger;
    readonly onRebirth?: () => void;
    readonly config?: () => { readonly hash: string; readonly version: string | null } | undefined;
  },
): SparkplugUplink {
  const sp = config.mqtt.sparkplug;
  const bdSeqFile = sp.bdSeqFile ?? join(dirname(config.store.path), 'sparkplug-bdseq.json');
  return new SparkplugUplink(
    {
      groupId: sp.groupId ?? config.agent.site,
      edgeNodeId: sp.edgeNodeId ?? config.agent.id,
      ...(sp.primaryHostId === undefined ? {} : { primaryHostId: sp.primaryHostId }),
      json: { topicPrefix: config.mqtt.topicPrefix, site: config.agent.site, agentId: config.agent.id },
      batch: config.mqtt.batch,
      devices: sparkplugDevices(config.devices),
    },
    { ...deps, bdSeq: fileBdSeqStore(bdSeqFile) },
  );
}
