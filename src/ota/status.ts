/**
 * The `ota` part of /status.json and of the observability snapshot: what the running agent
 * knows about updates, from the state file (root's in the split), the version floor, its own
 * package version, the trial it judges and the update it is running. Only what the OTA code
 * really knows: a field it cannot tell is null, and `known: false` says the state file could
 * not be read. Never the bundle source (a URL may carry credentials), the command, or keys.
 */
import type { OtaProgress, OtaStage } from './control.js';
import type { OtaOutcome, OtaPhase, OtaState } from './state.js';

export type OtaUpdateStage = Exclude<OtaStage, 'done' | 'failed'>;

export interface OtaStatusDoc {
  /** False when the state file could not be read (yet): `phase`, `trial`, `last` are then unknown. */
  readonly known: boolean;
  /** Why the state is unknown (an unreadable or foreign state file), else null. */
  readonly problem: string | null;
  /** split: root switches and commits; inline: this process does (or the legacy layout). */
  readonly mode: 'split' | 'inline';
  /** The version this process runs (its package.json); null when unreadable. */
  readonly running: string | null;
  /** The state machine's step (docs/ota.md): idle, staging, switching, trial, rolling-back. */
  readonly phase: OtaPhase | null;
  readonly trial: {
    readonly version: string;
    readonly from: string | null;
    /** Epoch ms the trial began (the switch or the boot that found it). */
    readonly since: number;
    readonly boots: number;
    /** True when this process runs the trial release and judges its health. */
    readonly judged: boolean;
    /** Epoch ms by which it must be healthy (this run's window); null when not judged here. */
    readonly deadline: number | null;
    /** This process's verdict, which the state shows once acted on (in the split, by root a moment later). */
    readonly verdict: 'healthy' | 'timed-out' | null;
  } | null;
  /** An update this process is running now (download to switch), with its progress. */
  readonly update: {
    readonly stage: OtaUpdateStage;
    readonly version: string | null;
    readonly done: number | null;
    readonly total: number | null;
  } | null;
  /** The last update's result and when: committed, rolled-back (reason), failed (code), aborted. */
  readonly last: {
    readonly outcome: OtaOutcome['outcome'];
    readonly at: number;
    readonly version: string | null;
    readonly from: string | null;
    readonly to: string | null;
    readonly reason: string | null;
    readonly code: string | null;
  } | null;
  /** Oldest version an update may install (raised by commits); null: none set. */
  readonly floor: string | null;
  /** Epoch ms the state file was last read; null before the first read. */
  readonly readAt: number | null;
}

export interface OtaStatusInput {
  readonly mode: 'split' | 'inline';
  readonly running: string | null;
  /** The state as read, or null before the first read. */
  readonly state: OtaState | null;
  readonly problem?: string;
  readonly floor: string | null;
  readonly readAt: number | null;
  /** The latest progress of an update this process runs; undefined when none. */
  readonly progress?: OtaProgress;
  /** The trial this process judges: its version and deadline. */
  readonly judging?: {
    readonly version: string;
    readonly deadline: number;
    readonly verdict: 'healthy' | 'timed-out' | null;
  };
}

/** `scheme://user:pass@host` → `scheme://host`: a failure message may quote the bundle's URL. */
export function withoutUserInfo(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi, '$1');
}

function update(progress: OtaProgress | undefined): OtaStatusDoc['update'] {
  if (!progress || progress.stage === 'done' || progress.stage === 'failed') return null;
  return {
    stage: progress.stage,
    version: progress.version ?? null,
    done: progress.done ?? null,
    total: progress.total ?? null,
  };
}

export function buildOtaStatus(input: OtaStatusInput): OtaStatusDoc {
  const { state } = input;
  // An unreadable file reads as the initial state: that idle is not knowledge.
  const known = state !== null && input.problem === undefined;
  const step = known ? state.step : undefined;
  const last = known ? state.last : undefined;
  const judged = step?.phase === 'trial' && input.judging?.version === step.to;
  return {
    known,
    problem: input.problem === undefined ? null : withoutUserInfo(input.problem),
    mode: input.mode,
    running: input.running,
    phase: step?.phase ?? null,
    trial:
      step?.phase === 'trial'
        ? {
            version: step.to,
            from: step.from,
            since: step.since,
            boots: step.boots,
            judged,
            deadline: judged ? (input.judging?.deadline ?? null) : null,
            verdict: judged ? (input.judging?.verdict ?? null) : null,
          }
        : null,
    update: update(input.progress),
    last: last
      ? {
          outcome: last.outcome,
          at: last.at,
          version: last.version ?? null,
          from: last.from ?? null,
          to: last.to ?? null,
          reason: last.reason === undefined ? null : withoutUserInfo(last.reason),
          code: last.code ?? null,
        }
      : null,
    floor: input.floor,
    readAt: input.readAt,
  };
}
