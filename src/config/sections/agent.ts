import { z } from 'zod';
import { topicSegment } from './common.js';

export const agentSchema = z.strictObject({
  id: topicSegment.default('edge-agent').describe('This agent, used in MQTT client id and status'),
  site: topicSegment.default('demo-site').describe('Station id: the {site} topic level'),
  shutdownTimeoutMs: z.number().int().positive().default(5000),
});
export type AgentConfig = z.infer<typeof agentSchema>;
