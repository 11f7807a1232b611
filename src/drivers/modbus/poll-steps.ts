/**
 * Which reads a device's poll of a list of names makes, and where each value goes in the
 * poll's result: the plan for the names, around what the device refused (refusals.ts).
 * No I/O; the device (device.ts) does the reads.
 */
import { EdgeError } from '../../core/errors.js';
import type { TagValue } from '../../core/types.js';
import type { ModbusDeviceConfig, ModbusTagConfig } from './config.js';
import type { LineRead } from './port.js';
import { Planner, tagSize, type ModbusRequest } from './plan.js';
import type { Refusals } from './refusals.js';

export interface PreparedStep {
  readonly request: ModbusRequest<ModbusTagConfig>;
  /** The request as the line sends it (built once per cached plan). */
  readonly read: LineRead;
  /** For each tag of the request, its positions in the polled names. */
  readonly slots: readonly (readonly number[])[];
}

/** Plans kept per device (distinct due sets); the cache is dropped beyond this. */
const MAX_PREPARED = 256;

export class PollSteps {
  private readonly prepared = new Map<string, readonly PreparedStep[]>();
  /** The last names asked (a copy) and their steps: a scheduler asks the same list every cycle. */
  private lastNames: readonly string[] = [];
  private lastSteps: readonly PreparedStep[] | undefined;

  constructor(
    private readonly config: ModbusDeviceConfig,
    private readonly planner: Planner<ModbusTagConfig>,
    private readonly refusals: Refusals,
    private readonly tagByName: ReadonlyMap<string, ModbusTagConfig>,
    private readonly countError: (code: string) => void,
  ) {}

  /** The line request of a planned read. */
  lineRead(request: ModbusRequest<ModbusTagConfig>): LineRead {
    return {
      unitId: this.config.unitId,
      function: request.function,
      address: request.address,
      length: request.length,
      timeoutMs: this.config.timeoutMs,
    };
  }

  /**
   * The steps of a poll of `names`. Quarantined tags not due for their probe get their
   * held value in `out` now and are left out of the steps.
   */
  forNames(names: readonly string[], out: TagValue[]): readonly PreparedStep[] {
    return this.refusals.empty ? this.prepare(names) : this.prepareAround(names, out);
  }

  /** The plan for this exact list of names, with where each value goes; cached. */
  private prepare(names: readonly string[]): readonly PreparedStep[] {
    if (this.lastSteps && sameNames(this.lastNames, names)) return this.lastSteps;
    const key = names.join('\u0000');
    let steps = this.prepared.get(key);
    if (!steps) {
      steps = this.build(names);
      if (this.prepared.size >= MAX_PREPARED) this.prepared.clear();
      this.prepared.set(key, steps);
    }
    this.lastNames = names.slice();
    this.lastSteps = steps;
    return steps;
  }

  private build(names: readonly string[]): readonly PreparedStep[] {
    const positions = new Map<string, number[]>();
    names.forEach((name, i) => {
      if (!this.planner.has(name)) {
        throw new EdgeError('EDGE_ERR_CONFIG_INVALID', `device ${this.config.name} has no tag "${name}"`, {
          context: { device: this.config.name, tag: name },
        });
      }
      const list = positions.get(name);
      if (list) list.push(i);
      else positions.set(name, [i]);
    });
    return this.stepsOf(this.planner.plan(names), positions);
  }

  private stepsOf(
    requests: readonly ModbusRequest<ModbusTagConfig>[],
    positions: ReadonlyMap<string, number[]>,
  ): readonly PreparedStep[] {
    return requests.map((request) => ({
      request,
      read: this.lineRead(request),
      slots: request.tags.map((t) => positions.get(t.tag.name) ?? []),
    }));
  }

  /**
   * Steps around what the device refused: quarantined tags get their held value in `out`
   * (or are probed alone when due) and the rest is planned without reading across holes.
   * Not cached: which probes are due changes with time.
   */
  private prepareAround(names: readonly string[], out: TagValue[]): readonly PreparedStep[] {
    this.prepare(names); // validates the names
    const positions = new Map<string, number[]>();
    const normal: string[] = [];
    const probes: string[] = [];
    const q = this.refusals.tags;
    names.forEach((name, i) => {
      if (q.has(name) && !q.isDue(name)) {
        const held = q.heldValue(name);
        if (held.quality === 'bad') this.countError(held.code);
        out[i] = held;
        return;
      }
      const list = positions.get(name);
      if (list) list.push(i);
      else {
        positions.set(name, [i]);
        (q.has(name) ? probes : normal).push(name);
      }
    });
    // A quarantined tag's own registers are refused too: no coalesced read may span them.
    const barriers = this.refusals.barriers();
    for (const name of q.names()) {
      const tag = this.tagByName.get(name);
      if (tag) barriers.push({ function: tag.function, from: tag.address, to: tag.address + tagSize(tag) });
    }
    const requests = [
      ...this.planner.plan(normal, barriers),
      ...probes.flatMap((name) => this.planner.plan([name])),
    ];
    return this.stepsOf(requests, positions);
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
