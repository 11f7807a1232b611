/**
 * The update's decision logic as a pure state machine: (state, input) → (state, effects).
 * No I/O here. The executor (src/ota/engine.ts) persists every new state durably BEFORE
 * performing its effects, so the state file always records the intent of the step that a
 * power cut may interrupt; replaying the same input after a crash is safe because every
 * effect is idempotent (pointing a symlink at a release, deleting unreferenced releases).
 *
 *   idle ──apply──▶ staging ──staged──▶ switching ──switched──▶ trial ──healthy──▶ idle (committed)
 *                     │ failed              │ (boot: finish the switch)   │ crash-loop / health-timeout / manual
 *                     ▼                     ▼                            ▼
 *                    idle                 trial                     rolling-back ──rolled-back──▶ idle
 */
import type { AgentEvent } from '../core/types.js';

export type RollbackReason = 'crash-loop' | 'health-timeout' | 'manual';

export interface PendingUpdate {
  /** URL or file path of the bundle. */
  readonly source: string;
  /** Expected sha256 of the bundle file (from a signed command), hex. */
  readonly sha256?: string;
  /** Id of the signed command that asked for it. */
  readonly commandId?: string;
  readonly force: boolean;
  readonly startedAt: number;
}

export type OtaStep =
  | { readonly phase: 'idle' }
  | { readonly phase: 'staging'; readonly update: PendingUpdate }
  | {
      readonly phase: 'switching';
      readonly from: string | null;
      readonly to: string;
      readonly commandId?: string;
    }
  | {
      readonly phase: 'trial';
      readonly from: string | null;
      readonly to: string;
      readonly since: number;
      readonly boots: number;
    }
  | {
      readonly phase: 'rolling-back';
      readonly failed: string;
      readonly restore: string;
      readonly reason: RollbackReason;
      readonly restart: boolean;
    };

export type OtaPhase = OtaStep['phase'];

export interface OtaOutcome {
  readonly outcome: 'committed' | 'rolled-back' | 'failed' | 'aborted';
  readonly at: number;
  readonly version?: string;
  readonly from?: string | null;
  readonly to?: string;
  readonly reason?: string;
  readonly code?: string;
}

export interface SeenCommand {
  readonly id: string;
  readonly expiresAt: number;
}

export interface OtaState {
  readonly format: 1;
  readonly step: OtaStep;
  readonly last?: OtaOutcome;
  /** Events not yet handed to the outbox; the agent emits them at its next start. */
  readonly events: readonly AgentEvent[];
  /** Ids of accepted signed commands until they expire: the replay guard. */
  readonly seenCommands: readonly SeenCommand[];
  /** The guard was (re)created then (state.json missing or unreadable): commands issued at or before are refused. */
  readonly seenSince?: number;
  /** Highest agent request (src/ota/requests.ts) the privileged step has handled. */
  readonly requestsDone?: number;
}

export type OtaInput =
  | { readonly type: 'apply'; readonly update: PendingUpdate }
  | {
      readonly type: 'staging-failed';
      readonly code: string;
      readonly message: string;
      readonly version?: string;
    }
  | { readonly type: 'staged'; readonly from: string | null; readonly to: string }
  | { readonly type: 'switched' }
  /** `ota boot-check`: the service is starting and `current` points at this version. */
  | { readonly type: 'boot'; readonly current: string | null }
  | { readonly type: 'healthy'; readonly version: string }
  | { readonly type: 'commit' }
  | { readonly type: 'trial-timeout'; readonly version: string }
  | { readonly type: 'rollback'; readonly current: string | null; readonly previous: string | null }
  | { readonly type: 'rolled-back' }
  | { readonly type: 'events-emitted'; readonly count: number };

export type OtaEffect =
  /** Point `current` at releases/<version> (and `previous` at releases/<previous> when given). */
  | { readonly type: 'set-current'; readonly version: string; readonly previous?: string }
  | { readonly type: 'restart'; readonly reason: string }
  /** Delete releases beyond the newest `keepReleases`, never those in `keep`. */
  | { readonly type: 'cleanup'; readonly keep: readonly string[] };

export interface TransitionContext {
  readonly now: number;
  readonly maxTrialBoots: number;
}

export type TransitionResult =
  | { readonly ok: true; readonly state: OtaState; readonly effects: readonly OtaEffect[] }
  | {
      readonly ok: false;
      readonly state: OtaState;
      readonly code: 'EDGE_ERR_OTA_BUSY' | 'EDGE_ERR_OTA_STATE';
      readonly message: string;
    };

export function initialState(): OtaState {
  return { format: 1, step: { phase: 'idle' }, events: [], seenCommands: [] };
}

const ok = (state: OtaState, effects: readonly OtaEffect[] = []): TransitionResult => ({
  ok: true,
  state,
  effects,
});
const refuse = (
  state: OtaState,
  code: 'EDGE_ERR_OTA_BUSY' | 'EDGE_ERR_OTA_STATE',
  message: string,
): TransitionResult => ({ ok: false, state, code, message });

function otaEvent(
  now: number,
  type: string,
  severity: AgentEvent['severity'],
  data: Record<string, unknown>,
): AgentEvent {
  return { device: 'agent', ts: now, type, severity, data };
}

/** Ends the update: back to idle with an outcome and the event that reports it. */
function finish(state: OtaState, now: number, last: OtaOutcome, event: AgentEvent): OtaState {
  return { ...state, step: { phase: 'idle' }, last, events: [...state.events, event] };
}

function rolledBack(state: OtaState, now: number, failed: string, restore: string, reason: string): OtaState {
  return finish(
    state,
    now,
    { outcome: 'rolled-back', at: now, version: restore, from: failed, to: restore, reason },
    otaEvent(now, 'ota-rolled-back', 'error', { reason, from: failed, to: restore }),
  );
}

function aborted(state: OtaState, now: number, reason: string, version?: string): OtaState {
  return finish(
    state,
    now,
    { outcome: 'aborted', at: now, version, reason },
    otaEvent(now, 'ota-failed', 'error', { reason, version: version ?? null }),
  );
}

export function transition(state: OtaState, input: OtaInput, ctx: TransitionContext): TransitionResult {
  const step = state.step;
  const { now } = ctx;
  switch (input.type) {
    case 'apply':
      if (step.phase === 'idle' || step.phase === 'staging')
        return ok({ ...state, step: { phase: 'staging', update: input.update } });
      return refuse(state, 'EDGE_ERR_OTA_BUSY', `an update is ${step.phase}; commit or roll it back first`);
    case 'staging-failed':
      if (step.phase !== 'staging') return ok(state);
      return ok(
        finish(
          state,
          now,
          { outcome: 'failed', at: now, version: input.version, code: input.code, reason: input.message },
          otaEvent(now, 'ota-failed', 'error', {
            code: input.code,
            reason: input.message,
            version: input.version ?? null,
            source: step.update.source,
          }),
        ),
      );
    case 'staged':
      if (step.phase !== 'staging')
        return refuse(state, 'EDGE_ERR_OTA_STATE', `cannot switch from phase ${step.phase}`);
      return ok(
        {
          ...state,
          step: { phase: 'switching', from: input.from, to: input.to, commandId: step.update.commandId },
        },
        [{ type: 'set-current', version: input.to, previous: input.from ?? undefined }],
      );
    case 'switched':
      if (step.phase !== 'switching')
        return refuse(state, 'EDGE_ERR_OTA_STATE', `not switching (phase ${step.phase})`);
      return ok({ ...state, step: { phase: 'trial', from: step.from, to: step.to, since: now, boots: 0 } }, [
        { type: 'restart', reason: `switched to ${step.to}` },
      ]);
    case 'boot':
      return boot(state, input.current, ctx);
    case 'healthy':
    case 'commit':
      if (step.phase !== 'trial')
        return refuse(state, 'EDGE_ERR_OTA_STATE', `nothing on trial (phase ${step.phase})`);
      if (input.type === 'healthy' && input.version !== step.to)
        return refuse(state, 'EDGE_ERR_OTA_STATE', `running ${input.version}, on trial is ${step.to}`);
      return ok(
        finish(
          state,
          now,
          { outcome: 'committed', at: now, version: step.to, from: step.from, to: step.to },
          otaEvent(now, 'ota-committed', 'info', {
            version: step.to,
            from: step.from,
            boots: step.boots,
            manual: input.type === 'commit',
          }),
        ),
        [{ type: 'cleanup', keep: step.from === null ? [step.to] : [step.to, step.from] }],
      );
    case 'trial-timeout':
      if (step.phase !== 'trial' || input.version !== step.to) return ok(state);
      return startRollback(state, step, 'health-timeout', true, now);
    case 'rollback':
      return manualRollback(state, input.current, input.previous, now);
    case 'rolled-back':
      if (step.phase !== 'rolling-back')
        return refuse(state, 'EDGE_ERR_OTA_STATE', `not rolling back (phase ${step.phase})`);
      return ok(
        rolledBack(state, now, step.failed, step.restore, step.reason),
        step.restart ? [{ type: 'restart', reason: `rolled back to ${step.restore} (${step.reason})` }] : [],
      );
    case 'events-emitted':
      return ok({ ...state, events: state.events.slice(input.count) });
  }
}

function startRollback(
  state: OtaState,
  step: Extract<OtaStep, { phase: 'trial' }>,
  reason: RollbackReason,
  restart: boolean,
  now: number,
): TransitionResult {
  if (step.from === null || step.from === step.to) {
    // Nothing to go back to: keeping the only release is the least bad choice.
    return ok(aborted(state, now, `${reason} with no previous release: kept ${step.to}`, step.to));
  }
  return ok(
    { ...state, step: { phase: 'rolling-back', failed: step.to, restore: step.from, reason, restart } },
    [{ type: 'set-current', version: step.from }],
  );
}

function manualRollback(
  state: OtaState,
  current: string | null,
  previous: string | null,
  now: number,
): TransitionResult {
  const step = state.step;
  if (step.phase === 'trial') return startRollback(state, step, 'manual', true, now);
  if (step.phase !== 'idle') return refuse(state, 'EDGE_ERR_OTA_BUSY', `an update is ${step.phase}`);
  if (current === null || previous === null || previous === current)
    return refuse(state, 'EDGE_ERR_OTA_STATE', 'no previous release to roll back to');
  return ok(
    {
      ...state,
      step: { phase: 'rolling-back', failed: current, restore: previous, reason: 'manual', restart: true },
    },
    [{ type: 'set-current', version: previous }],
  );
}

/**
 * A start of the service. Converges: the executor repeats it with the re-read `current`
 * until it yields no effect, so an interrupted switch or rollback is finished here.
 */
function boot(state: OtaState, current: string | null, ctx: TransitionContext): TransitionResult {
  const step = state.step;
  const { now } = ctx;
  switch (step.phase) {
    case 'idle':
    case 'staging':
      return ok(state);
    case 'switching':
      if (current === step.to)
        return ok({ ...state, step: { phase: 'trial', from: step.from, to: step.to, since: now, boots: 1 } });
      if (current === step.from)
        return ok(state, [{ type: 'set-current', version: step.to, previous: step.from ?? undefined }]);
      return ok(
        aborted(
          state,
          now,
          `current points at ${current ?? 'nothing'}, neither ${step.from ?? 'none'} nor ${step.to}`,
          step.to,
        ),
      );
    case 'trial': {
      if (current !== step.to) {
        if (current !== null && current === step.from)
          return ok(rolledBack(state, now, step.to, current, 'manual'));
        return ok(
          aborted(
            state,
            now,
            `current points at ${current ?? 'nothing'}, not the trial release ${step.to}`,
            step.to,
          ),
        );
      }
      const boots = step.boots + 1;
      if (boots > ctx.maxTrialBoots)
        return startRollback(state, { ...step, boots }, 'crash-loop', false, now);
      return ok({ ...state, step: { ...step, boots } });
    }
    case 'rolling-back':
      if (current === step.restore) return ok(rolledBack(state, now, step.failed, step.restore, step.reason));
      return ok(state, [{ type: 'set-current', version: step.restore }]);
  }
}
