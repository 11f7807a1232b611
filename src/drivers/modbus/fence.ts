/**
 * Order fences: what makes an RTU answer trustworthy after a doubt, without timing.
 *
 * An RTU answer carries no transaction id, only (unit, function, byte count) or, for an
 * exception, (unit, function | 0x80, code). A request R whose answer did not arrive (a
 * timeout, a lost DTU link, a broken frame, a keepalive the Line never saw) leaves its
 * answer "unaccounted": it may still come, at any time, and be taken for the answer of a
 * later request of the same shape. Timing (late-guard.ts) cannot rule that out on a loaded
 * host: event-loop stalls make "silence" and arrival times meaningless.
 *
 * ORDER can. A slave on a half-duplex line answers its requests one at a time, in the
 * order received, and a DTU forwards the bytes in the order the slave sent them, across
 * its re-registration too. So once the answer of a request F arrived, every request of
 * that unit sent before F has been answered or never will be. The unit is therefore
 * "fenced" while it has unaccounted requests (their answer shapes are kept here); an
 * answer received while fenced is trusted only when it is *conclusive*: its shape cannot
 * be the shape of any unaccounted answer, so it can only be the answer of the request on
 * the wire. A conclusive answer clears the fence (everything older is done).
 * - Data answer (fc, n bytes): conclusive iff no unaccounted request answers (fc, n).
 * - Exception (fc | 0x80, code): conclusive iff no unaccounted request has function fc.
 *   The code cannot tell two requests apart (every refused read of a function answers
 *   alike), so an exception is only conclusive when its function is unused.
 * - A write's answer is its echo (fc 5/6/15/16, 4 bytes): the same rules, the function
 *   alone sets it apart from reads; a timed-out write fences its unit like a read, so a
 *   late echo never confirms a later write.
 * Before a request whose data answer would collide, the Line sends a fence: a harmless
 * read (never a write) whose data answer has a shape no unaccounted request has. Frames
 * before the fence's answer do not match its shape and are dropped by the transport's
 * framer; a fence that fails joins the unaccounted set, so the next one has another shape.
 * Candidates, tried in turn across failures (a slave may refuse or silently ignore some):
 * a read this unit answered with data before, with an unused function (any answer is
 * conclusive) or a free byte count; the request's own function at its address with a
 * free count (a sub-range first); another read function, one register at that address
 * (any answer conclusive, even "illegal function"). A request whose data answer does not
 * collide is its own fence: no extra request.
 * A fresh link (a port opened, a DTU link up) may deliver answers to requests sent before
 * it opened (by a previous process, before a reconnect): their shapes are unknown, most
 * likely those this line asks. So the first request of each unit on a fresh link counts
 * its own shape as unaccounted (`admit`): a fence of another shape goes first, and only
 * its conclusive answer (everything older is then done) lets the request go out.
 * Other units' answers carry their unit id, so fences are per unit (multi-drop lines).
 * Glued or split frames do not matter: the framer matches shapes across chunks.
 * The set is bounded (MAX_UNACCOUNTED, oldest forgotten): a slave or DTU does not hold
 * that many requests unanswered in its queue. The model's limit: a peer that reorders
 * answers (concurrent slave, UDP) defeats every scheme without ids except timing.
 */
import { EdgeError } from '../../core/errors.js';
import { answeredSomething, isDeviceAnswer } from './errors.js';
import type { AnswerShape, LineRead, LineRequest } from './port.js';

export type { AnswerShape } from './port.js';

/** Unaccounted answers remembered per unit, at most (the oldest is forgotten). */
export const MAX_UNACCOUNTED = 32;

const READ_FC = { coil: 1, discrete: 2, holding: 3, input: 4 } as const;
const FC_READ = ['coil', 'coil', 'discrete', 'holding', 'input'] as const;
type ReadFc = 1 | 2 | 3 | 4;

/** Fence functions to try for a request of function fc, in order (siblings first). */
const FENCE_ORDER: Readonly<Record<number, readonly ReadFc[]>> = {
  1: [2, 1, 3, 4],
  2: [1, 2, 3, 4],
  3: [4, 3, 1, 2],
  4: [3, 4, 1, 2],
  5: [1, 2, 3, 4],
  15: [1, 2, 3, 4],
  6: [3, 4, 1, 2],
  16: [3, 4, 1, 2],
};

function dataBytes(fc: ReadFc, count: number): number {
  return fc <= 2 ? Math.ceil(count / 8) : 2 * count;
}

export function requestShape(r: LineRequest): AnswerShape {
  if ('kind' in r) return { fc: r.fc, bytes: 4 };
  const fc = READ_FC[r.function];
  return { fc, bytes: dataBytes(fc, r.length) };
}

/** Good reads remembered per unit as fence candidates. */
const KNOWN_READS = 8;

export class UnitFences {
  private readonly unaccounted = new Map<number, AnswerShape[]>();
  /** Reads each unit answered with data: their shapes are likely answered again. */
  private readonly known = new Map<number, LineRead[]>();
  /** Fences in a row without a conclusive answer, per unit: rotates the candidates. */
  private readonly failures = new Map<number, number>();
  /** Units with an answer missing (timeout, lost link), not only broken frames. */
  private readonly missing = new Set<number>();
  /** Units asked since the link came up (their first request was admitted). */
  private readonly admitted = new Set<number>();
  /** The read each unit last answered with data (already in `known`). */
  private readonly lastRemembered = new Map<number, LineRead>();
  readonly stats = { fences: 0, fenceFailures: 0, inconclusive: 0 };

  /** The link is fresh (opened, came up): each unit's first request is fenced by its own shape. */
  freshLink(): void {
    this.admitted.clear();
  }

  /**
   * `r` is about to go out. The first request of its unit on a fresh link: an answer of
   * its shape may already be on the way (sent before the link opened), so the shape
   * counts as unaccounted and a fence goes first.
   */
  admit(r: LineRequest): void {
    if (this.admitted.has(r.unitId)) return;
    this.admitted.add(r.unitId);
    // not known to be missing: a broken frame now is reported as what it is
    this.lose(r.unitId, requestShape(r), false);
  }

  isFenced(unit: number): boolean {
    return this.unaccounted.has(unit);
  }

  /**
   * `unit`'s answer of `shape` may still come (its request got no answer). `missing`:
   * nothing came at all (not a broken frame), so a late answer is to be expected.
   */
  lose(unit: number, shape: AnswerShape, missing = true): void {
    if (missing) this.missing.add(unit);
    let list = this.unaccounted.get(unit);
    if (!list) this.unaccounted.set(unit, (list = []));
    if (list.some((s) => s.fc === shape.fc && s.bytes === shape.bytes)) return;
    list.push(shape);
    if (list.length > MAX_UNACCOUNTED) list.shift();
  }

  /** Whether `r`'s data answer could be an unaccounted one: a fence must go first. */
  needsFence(r: LineRequest): boolean {
    return this.unaccounted.has(r.unitId) && this.collides(r.unitId, requestShape(r), false);
  }

  /**
   * An answer to `r` arrived (data, or an exception). Returns whether it is conclusive
   * (then the unit's fence is cleared); else `r`'s own answer joins the unaccounted ones.
   */
  answered(r: LineRequest, exception: boolean): boolean {
    if (!exception && !('kind' in r)) this.remember(r);
    if (!this.unaccounted.has(r.unitId)) return true;
    const shape = requestShape(r);
    if (!this.collides(r.unitId, shape, exception)) {
      this.unaccounted.delete(r.unitId);
      this.failures.delete(r.unitId);
      this.missing.delete(r.unitId);
      return true;
    }
    this.stats.inconclusive++;
    this.lose(r.unitId, shape);
    return false;
  }

  /** Whether an answer of `unit` is missing (a late one may come), not only broken. */
  awaitsLate(unit: number): boolean {
    return this.missing.has(unit);
  }

  /** A fence before `r` got no conclusive answer. */
  fenceFailed(unit: number): void {
    this.stats.fenceFailures++;
    this.failures.set(unit, (this.failures.get(unit) ?? 0) + 1);
  }

  /** The fence read to send before `r` (see the module comment for the candidates). */
  fenceFor(r: LineRequest): LineRead {
    this.stats.fences++;
    const candidates = this.candidates(r);
    return candidates[(this.failures.get(r.unitId) ?? 0) % candidates.length]!;
  }

  private candidates(r: LineRequest): LineRead[] {
    const unit = r.unitId;
    const free = (q: LineRead): boolean => !this.collides(unit, requestShape(q), false);
    const unused = (fc: number): boolean => !this.unaccounted.get(unit)?.some((s) => s.fc === fc);
    const out: LineRead[] = [];
    const known = this.known.get(unit) ?? [];
    const knownUnused = known.find((q) => unused(READ_FC[q.function]));
    if (knownUnused) out.push({ ...knownUnused, timeoutMs: r.timeoutMs });
    const knownFree = known.find(free);
    if (knownFree && knownFree !== knownUnused) out.push({ ...knownFree, timeoutMs: r.timeoutMs });
    const order = FENCE_ORDER[requestShape(r).fc] ?? FENCE_ORDER[3]!;
    const own = 'kind' in r ? order[0]! : READ_FC[r.function];
    const step = own <= 2 ? 8 : 1;
    let count = 1;
    while (!free(this.read(r, own, count))) count += step;
    out.push(this.read(r, own, count));
    const other = order.find((fc) => fc !== own && unused(fc));
    if (other !== undefined) out.push(this.read(r, other, 1));
    return out;
  }

  private read(r: LineRequest, fc: ReadFc, count: number): LineRead {
    return {
      unitId: r.unitId,
      function: FC_READ[fc],
      address: Math.min(r.address, 0x10000 - count),
      length: count,
      timeoutMs: r.timeoutMs,
    };
  }

  private collides(unit: number, shape: AnswerShape, exception: boolean): boolean {
    return (
      this.unaccounted.get(unit)?.some((s) => s.fc === shape.fc && (exception || s.bytes === shape.bytes)) ??
      false
    );
  }

  private remember(r: LineRead): void {
    // a device sends the same read object every cycle (poll-steps.ts): known by identity
    if (this.lastRemembered.get(r.unitId) === r) return;
    this.lastRemembered.set(r.unitId, r);
    let list = this.known.get(r.unitId);
    if (!list) this.known.set(r.unitId, (list = []));
    const same = (q: LineRead): boolean =>
      q.function === r.function && q.address === r.address && q.length === r.length;
    if (list.some(same)) return;
    list.push({
      unitId: r.unitId,
      function: r.function,
      address: r.address,
      length: r.length,
      timeoutMs: r.timeoutMs,
    });
    if (list.length > KNOWN_READS) list.shift();
  }
}

/** An answer that may belong to an earlier request of the unit: never good. */
export function unaccountedError(line: string, read: LineRequest, answer?: EdgeError): EdgeError {
  return new EdgeError(
    'EDGE_ERR_MODBUS_LATE_ANSWER',
    `unit ${read.unitId}: the answer (${answer ? answer.code : 'data'}) has the shape of an earlier ` +
      `request's answer that never arrived; it may be that late answer and was discarded`,
    { context: { line, unit: read.unitId, timeoutMs: read.timeoutMs } },
  );
}

/** `read` was not sent: its fence got no conclusive answer (`why`: the fence's error). */
export function fenceFailedError(
  line: string,
  read: LineRequest,
  fence: LineRead,
  why: EdgeError | undefined,
  awaitsLate: boolean,
): EdgeError {
  // a broken frame while an answer is missing is most likely that answer, misframed
  // (modbus-serial frames by function and length, not by byte count)
  const late = !why || (awaitsLate && answeredSomething(why.code)) || isDeviceAnswer(why.code);
  const code = late ? 'EDGE_ERR_MODBUS_LATE_ANSWER' : why.code;
  return new EdgeError(
    code,
    `unit ${read.unitId}: an earlier answer is unaccounted for and the fence read ` +
      `(${fence.function} ${fence.address}, ${fence.length}) got no conclusive answer` +
      (why ? ` (${why.message})` : ''),
    { context: { ...why?.context, line, unit: read.unitId, fence: true } },
  );
}
