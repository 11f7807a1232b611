/**
 * What the running agent needs from OTA: the inline engine (one process does everything)
 * or, in the split, the requester that asks the privileged step (src/ota/requester.ts).
 */
import type { AgentEvent } from '../core/types.js';
import type { ApplyRequest } from './engine.js';
import type { OtaProgress } from './engine.js';
import type { OtaState } from './state.js';

export interface OtaControl {
  readState(): Promise<OtaState>;
  /** Records a signed command's id; false when it was seen before (a replay). */
  recordCommand(id: string, expiresAt: number): Promise<boolean>;
  apply(request: ApplyRequest): Promise<unknown>;
  /** Continues an update a power cut interrupted (null: nothing to continue). */
  resume(onProgress?: (progress: OtaProgress) => void): Promise<unknown>;
  healthy(version: string): Promise<void>;
  trialTimeout(version: string): Promise<void>;
  pendingEvents(): Promise<readonly AgentEvent[]>;
  eventsEmitted(count: number): Promise<void>;
}
