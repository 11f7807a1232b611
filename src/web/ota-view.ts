/**
 * The overview's OTA cards, read out of the status document's `ota` part (src/ota/status.ts).
 * Honest: what the agent cannot tell reads "unknown", never a guess from the LED or events.
 * Picked field by field, like the rest of the page.
 */
import { num, obj, str } from './views.js';

export interface OtaView {
  /** Running version, phase or update in progress, trial, floor. */
  readonly state: string;
  /** The last update's result; null when the state records none. */
  readonly last: string | null;
  /** Epoch ms of the last result (the page shows its age). */
  readonly lastAt: number | null;
  /** Epoch ms by which the release on trial must be healthy; null when none, decided or not judged here. */
  readonly deadline: number | null;
  /** The agent cannot tell its OTA state. */
  readonly unknown: boolean;
  /** The last update did not end committed. */
  readonly lastBad: boolean;
}

function percent(done: number | null, total: number | null): string {
  return done !== null && total !== null && total > 0 ? ` ${Math.floor((100 * done) / total)} %` : '';
}

function lastText(last: Record<string, unknown>): string {
  const version = str(last.version);
  const from = str(last.from);
  const to = str(last.to);
  const reason = str(last.reason);
  const code = str(last.code);
  switch (str(last.outcome)) {
    case 'committed':
      return `committed ${version ?? to ?? '?'}${from ? ` (from ${from})` : ''}`;
    case 'rolled-back':
      return `rolled back ${from ?? '?'} → ${to ?? version ?? '?'}${reason ? ` (${reason})` : ''}`;
    case 'failed':
      return `failed ${version ?? ''}${code ? ` ${code}` : ''}${reason ? `: ${reason}` : ''}`.replace(
        /\s+/g,
        ' ',
      );
    case 'aborted':
      return `aborted${reason ? `: ${reason}` : ''}`;
    default:
      return 'unknown';
  }
}

function stateText(ota: Record<string, unknown>): string {
  const running = str(ota.running) ?? 'unknown';
  const update = obj(ota.update);
  const trial = obj(ota.trial);
  const floor = str(ota.floor);
  let text: string;
  if (str(update.stage)) {
    const version = str(update.version);
    text = `updating${version ? ` to ${version}` : ''}: ${str(update.stage)}${percent(num(update.done), num(update.total))}`;
  } else if (str(trial.version)) {
    text =
      `${str(trial.version)} on trial (boot ${num(trial.boots) ?? '?'})` +
      (trial.judged !== true
        ? `, not judged by this process (running ${running})`
        : trial.verdict === 'healthy'
          ? ', healthy: commit pending'
          : trial.verdict === 'timed-out'
            ? ', not healthy in time: rollback pending'
            : '');
  } else {
    const phase = str(ota.phase) ?? 'unknown';
    text = `running ${running}${phase === 'idle' ? '' : `, ${phase}`}`;
  }
  return floor ? `${text} · floor ${floor}` : text;
}

export function otaView(status: Record<string, unknown>): OtaView {
  const ota = status.ota;
  if (ota === null || ota === undefined || typeof ota !== 'object') {
    return {
      state: 'unknown (no OTA status)',
      last: null,
      lastAt: null,
      deadline: null,
      unknown: true,
      lastBad: false,
    };
  }
  const o = obj(ota);
  if (o.known !== true) {
    const running = str(o.running);
    return {
      state: `unknown${running ? ` (running ${running})` : ''}: ${str(o.problem) ?? 'state not readable'}`,
      last: null,
      lastAt: null,
      deadline: null,
      unknown: true,
      lastBad: false,
    };
  }
  const last = o.last === null || o.last === undefined ? null : obj(o.last);
  return {
    state: stateText(o),
    last: last ? lastText(last) : null,
    lastAt: last ? num(last.at) : null,
    deadline: str(obj(o.trial).verdict) === null ? num(obj(o.trial).deadline) : null,
    unknown: false,
    lastBad: last !== null && last.outcome !== 'committed',
  };
}
