/**
 * What the running agent needs from OTA: the inline engine (one process does everything)
 * or, in the split, the requester that asks the privileged step (src/ota/requester.ts).
 */
import type { AgentEvent } from '../core/types.js';
import type { GuardedDocument } from './replay-guard.js';
import type { OtaState } from './state.js';

export type OtaStage = 'download' | 'verify' | 'unpack' | 'switch' | 'done' | 'failed';

export interface OtaProgress {
  readonly stage: OtaStage;
  readonly done?: number;
  readonly total?: number | null;
  readonly version?: string;
  readonly code?: string;
  readonly message?: string;
}

export interface ApplyRequest {
  readonly source: string;
  /** Who asked: local files are accepted from the CLI only. */
  readonly origin: 'cli' | 'command';
  readonly force?: boolean;
  readonly sha256?: string;
  readonly commandId?: string;
  /** The signed command (its MQTT payload) that asked: the privileged step re-verifies `force` with it. */
  readonly command?: string;
  /** Progress of this apply only (besides `deps.onProgress`). */
  readonly onProgress?: (progress: OtaProgress) => void;
}

export interface ApplyResult {
  readonly version: string;
  readonly from: string | null;
  readonly bytesFetched: number;
}

export interface OtaControl {
  readState(): Promise<OtaState>;
  /** Records a signed command's id: true, or why it is refused (seen before, or issued before the guard was re-created). */
  recordCommand(doc: GuardedDocument): Promise<true | string>;
  /** Creates the replay guard if its file is missing or unreadable (at start: see replay-guard.ts). */
  ensureGuard(): Promise<void>;
  apply(request: ApplyRequest): Promise<unknown>;
  /** Continues an update a power cut interrupted (null: nothing to continue). */
  resume(onProgress?: (progress: OtaProgress) => void): Promise<unknown>;
  healthy(version: string): Promise<void>;
  trialTimeout(version: string): Promise<void>;
  pendingEvents(): Promise<readonly AgentEvent[]>;
  eventsEmitted(count: number): Promise<void>;
}
