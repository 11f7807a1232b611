import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  initialState,
  transition,
  type OtaInput,
  type OtaState,
  type OtaStep,
  type TransitionContext,
} from '../../src/ota/state.js';

const ctx: TransitionContext = { now: 1000, maxTrialBoots: 3 };
const update = { source: 'https://u/b.tar.gz', force: false, startedAt: 1 };
const at = (step: OtaStep): OtaState => ({ ...initialState(), step });

const STEPS: OtaStep[] = [
  { phase: 'idle' },
  { phase: 'staging', update },
  { phase: 'switching', from: '1.0.0', to: '1.1.0' },
  { phase: 'switching', from: null, to: '1.1.0' },
  { phase: 'trial', from: '1.0.0', to: '1.1.0', since: 1, boots: 0 },
  { phase: 'trial', from: '1.0.0', to: '1.1.0', since: 1, boots: 3 },
  { phase: 'trial', from: null, to: '1.1.0', since: 1, boots: 3 },
  { phase: 'rolling-back', failed: '1.1.0', restore: '1.0.0', reason: 'health-timeout', restart: true },
  { phase: 'rolling-back', failed: '1.1.0', restore: '1.0.0', reason: 'crash-loop', restart: false },
];
const CURRENTS = [null, '1.0.0', '1.1.0', '9.9.9'];
const INPUTS: OtaInput[] = [
  { type: 'apply', update },
  { type: 'staging-failed', code: 'EDGE_ERR_OTA_HASH', message: 'bad' },
  { type: 'staged', from: '1.0.0', to: '1.1.0' },
  { type: 'switched' },
  ...CURRENTS.map((current): OtaInput => ({ type: 'boot', current })),
  { type: 'healthy', version: '1.1.0' },
  { type: 'healthy', version: '1.0.0' },
  { type: 'commit' },
  { type: 'trial-timeout', version: '1.1.0' },
  { type: 'trial-timeout', version: '1.0.0' },
  { type: 'rollback', current: '1.1.0', previous: '1.0.0' },
  { type: 'rollback', current: '1.0.0', previous: null },
  { type: 'rolled-back' },
  { type: 'events-emitted', count: 1 },
];

/** Versions a state may legitimately point `current` at. */
function known(step: OtaStep): Set<string> {
  switch (step.phase) {
    case 'switching':
    case 'trial':
      return new Set([step.to, ...(step.from === null ? [] : [step.from])]);
    case 'rolling-back':
      return new Set([step.restore]);
    default:
      return new Set();
  }
}

describe('OTA state machine: every phase × every input', () => {
  for (const step of STEPS) {
    for (const input of INPUTS) {
      it(`${step.phase}${'boots' in step ? `(boots ${step.boots}, from ${step.from})` : ''} + ${JSON.stringify(input)}`, () => {
        const before = at(step);
        const r = transition(before, input, ctx);
        if (!r.ok) {
          assert.match(r.code, /^EDGE_ERR_OTA_(BUSY|STATE)$/);
          assert.equal(r.state, before, 'a refusal changes nothing');
          return;
        }
        for (const effect of r.effects) {
          if (effect.type === 'set-current') {
            const allowed = new Set([
              ...known(step),
              ...(input.type === 'staged' ? [input.to] : []),
              ...(input.type === 'rollback' && input.previous ? [input.previous] : []),
            ]);
            assert.ok(
              allowed.has(effect.version),
              `points current only at a release of this update (${effect.version})`,
            );
          }
          if (effect.type === 'restart') assert.notEqual(input.type, 'boot', 'boot-check never restarts');
          if (effect.type === 'cleanup')
            assert.ok(
              step.phase === 'trial' && effect.keep.includes(step.to),
              'cleanup keeps the committed release',
            );
        }
        // An outcome always comes with exactly one event.
        const newEvents = r.state.events.length - before.events.length;
        if (r.state.last !== before.last) assert.equal(newEvents, 1);
        else assert.ok(newEvents <= 0);
        if (r.state.step.phase === 'trial' && step.phase === 'trial')
          assert.ok(r.state.step.boots <= ctx.maxTrialBoots, 'never stays on trial past maxTrialBoots');
      });
    }
  }
});

describe('OTA state machine: named paths', () => {
  const run = (state: OtaState, ...inputs: OtaInput[]): OtaState =>
    inputs.reduce((s, input) => {
      const r = transition(s, input, ctx);
      assert.ok(r.ok, `${input.type} accepted in ${s.step.phase}`);
      return r.state;
    }, state);

  it('good update: apply → staged → switched (restart) → boot → healthy commits and cleans up', () => {
    const s1 = run(initialState(), { type: 'apply', update }, { type: 'staged', from: '1.0.0', to: '1.1.0' });
    const sw = transition(s1, { type: 'switched' }, ctx);
    assert.ok(sw.ok);
    assert.deepEqual(sw.effects, [{ type: 'restart', reason: 'switched to 1.1.0' }]);
    const booted = run(sw.state, { type: 'boot', current: '1.1.0' });
    assert.deepEqual(booted.step, { phase: 'trial', from: '1.0.0', to: '1.1.0', since: 1000, boots: 1 });
    const done = transition(booted, { type: 'healthy', version: '1.1.0' }, ctx);
    assert.ok(done.ok);
    assert.deepEqual(done.effects, [{ type: 'cleanup', keep: ['1.1.0', '1.0.0'] }]);
    assert.equal(done.state.last?.outcome, 'committed');
    assert.deepEqual(
      done.state.events.map((e) => e.type),
      ['ota-committed'],
    );
  });

  it('crash loop: the (max+1)-th boot rolls back without restarting; the next boot finishes it', () => {
    let s = run(
      initialState(),
      { type: 'apply', update },
      { type: 'staged', from: '1.0.0', to: '1.1.0' },
      { type: 'switched' },
    );
    for (let i = 0; i < 3; i++) s = run(s, { type: 'boot', current: '1.1.0' });
    const r = transition(s, { type: 'boot', current: '1.1.0' }, ctx);
    assert.ok(r.ok);
    assert.deepEqual(r.effects, [{ type: 'set-current', version: '1.0.0' }]);
    const after = run(r.state, { type: 'boot', current: '1.0.0' });
    assert.equal(after.step.phase, 'idle');
    assert.deepEqual(after.last, {
      outcome: 'rolled-back',
      at: 1000,
      version: '1.0.0',
      from: '1.1.0',
      to: '1.0.0',
      reason: 'crash-loop',
    });
    assert.deepEqual(after.events.at(-1)?.data, { reason: 'crash-loop', from: '1.1.0', to: '1.0.0' });
  });

  it('health timeout rolls back and restarts once the link is back', () => {
    const s = run(
      initialState(),
      { type: 'apply', update },
      { type: 'staged', from: '1.0.0', to: '1.1.0' },
      { type: 'switched' },
      { type: 'boot', current: '1.1.0' },
    );
    const r = transition(s, { type: 'trial-timeout', version: '1.1.0' }, ctx);
    assert.ok(r.ok && r.state.step.phase === 'rolling-back');
    const done = transition(r.state, { type: 'rolled-back' }, ctx);
    assert.ok(done.ok);
    assert.deepEqual(done.effects, [{ type: 'restart', reason: 'rolled back to 1.0.0 (health-timeout)' }]);
  });

  it('an update with nothing to roll back to keeps the only release and says so', () => {
    let s = run(
      initialState(),
      { type: 'apply', update },
      { type: 'staged', from: null, to: '1.1.0' },
      { type: 'switched' },
    );
    for (let i = 0; i < 4; i++) s = run(s, { type: 'boot', current: '1.1.0' });
    assert.equal(s.step.phase, 'idle');
    assert.equal(s.last?.outcome, 'aborted');
  });

  it('refuses a second update while one is on trial', () => {
    const s = run(
      initialState(),
      { type: 'apply', update },
      { type: 'staged', from: '1.0.0', to: '1.1.0' },
      { type: 'switched' },
    );
    const r = transition(s, { type: 'apply', update }, ctx);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, 'EDGE_ERR_OTA_BUSY');
  });

  it('a healthy report from another version commits nothing', () => {
    const s = run(
      initialState(),
      { type: 'apply', update },
      { type: 'staged', from: '1.0.0', to: '1.1.0' },
      { type: 'switched' },
    );
    assert.equal(transition(s, { type: 'healthy', version: '1.0.0' }, ctx).ok, false);
  });
});

/**
 * A simulated machine: the executor's rules (persist, then effects, then follow-up) with a
 * power cut at any point, then starts of the service. `current` must always name an
 * installed release, and every start converges.
 */
describe('OTA state machine: random power cuts never leave current dangling', () => {
  it('holds for random update sequences', () => {
    const action = fc.oneof(
      fc.constant('update' as const),
      fc.constant('healthy' as const),
      fc.constant('timeout' as const),
      fc.constant('boot' as const),
      fc.constant('rollback' as const),
      fc.constant('crash' as const),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(action, fc.nat(5)), { maxLength: 40 }), (script) => {
        const disk = {
          current: '1.0.0' as string | null,
          previous: null as string | null,
          installed: new Set(['1.0.0']),
        };
        let state = initialState();
        let next = 2;
        const exec = (input: OtaInput, cutAfter: number): boolean => {
          // Returns false when the power was cut.
          let budget = cutAfter;
          const step = (i: OtaInput): boolean => {
            const r = transition(state, i, ctx);
            if (!r.ok) return true;
            if (budget-- === 0) return false;
            state = r.state;
            for (const e of r.effects) {
              if (budget-- === 0) return false;
              if (e.type === 'set-current') {
                assert.ok(disk.installed.has(e.version), `switch to installed ${e.version}`);
                if (e.previous !== undefined) disk.previous = e.previous;
                if (budget-- === 0) return false;
                disk.current = e.version;
              }
            }
            if (i.type === 'staged' && state.step.phase === 'switching') return step({ type: 'switched' });
            if (i.type !== 'boot' && i.type !== 'rolled-back' && state.step.phase === 'rolling-back')
              return step({ type: 'rolled-back' });
            return true;
          };
          return step(input);
        };
        const boot = (): void => {
          for (let round = 0; ; round++) {
            assert.ok(round < 4, 'boot converges');
            const r = transition(state, { type: 'boot', current: disk.current }, ctx);
            assert.ok(r.ok);
            state = r.state;
            if (r.effects.length === 0) break;
            for (const e of r.effects) if (e.type === 'set-current') disk.current = e.version;
          }
        };
        for (const [act, cut] of script) {
          const trialVersion = state.step.phase === 'trial' ? state.step.to : '';
          let alive = true;
          if (act === 'update') {
            const to = `1.${next++}.0`;
            if (exec({ type: 'apply', update }, 99)) {
              disk.installed.add(to);
              alive = exec({ type: 'staged', from: disk.current, to }, cut);
            }
          } else if (act === 'healthy') alive = exec({ type: 'healthy', version: trialVersion }, cut);
          else if (act === 'timeout') alive = exec({ type: 'trial-timeout', version: trialVersion }, cut);
          else if (act === 'rollback')
            alive = exec({ type: 'rollback', current: disk.current, previous: disk.previous }, cut);
          else alive = act !== 'crash';
          assert.ok(
            disk.current !== null && disk.installed.has(disk.current),
            'current names an installed release',
          );
          if (!alive || act === 'boot') boot();
          assert.ok(disk.current !== null && disk.installed.has(disk.current));
          if (state.step.phase === 'trial') assert.ok(state.step.boots <= ctx.maxTrialBoots);
          assert.ok(
            !['switching', 'rolling-back'].includes(state.step.phase) || alive,
            'after a boot nothing is half-switched',
          );
        }
      }),
      { numRuns: 500, seed: 6 },
    );
  });
});
