/**
 * The failover state machine, fed samples with explicit times: threshold and window
 * edges, minSamples, an unavailable secondary, hysteresis on the way back, flapping.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  FailoverPolicy,
  type FailoverPolicyOptions,
  type PollSample,
  type Transition,
} from '../../src/drivers/failover/policy.js';

const OPTS: FailoverPolicyOptions = {
  errorRateThreshold: 0.5,
  windowMs: 10_000,
  minSamples: 5,
  recoverErrorRate: 0.1,
  recoverAfterMs: 30_000,
  probeIntervalMs: 5_000,
};
const T0 = 1_000_000;
const good: PollSample = { bad: 0, total: 4, linkDown: false };
const bad: PollSample = { bad: 4, total: 4, linkDown: true };
const partly = (badCount: number, total = 4): PollSample => ({ bad: badCount, total, linkDown: false });

/** Feeds a primary poll (and a secondary check when due) at `now`, like the driver does. */
function pollOnPrimary(
  p: FailoverPolicy,
  now: number,
  sample: PollSample,
  secondary: PollSample = good,
): Transition | undefined {
  p.recordPrimary(now, sample);
  if (!p.secondaryCheckDue(now)) return undefined;
  p.recordSecondary(now, secondary);
  return p.decide(now);
}

/** On the secondary: a probe of the primary when due. */
function tickOnSecondary(p: FailoverPolicy, now: number, probe: PollSample): Transition | undefined {
  if (!p.probeDue(now)) return undefined;
  p.recordPrimary(now, probe);
  return p.decide(now);
}

/** Polls every `step` ms from `from` to `to` (inclusive) with `sample`; returns the first switch. */
function run(
  p: FailoverPolicy,
  from: number,
  to: number,
  step: number,
  sample: PollSample,
): Transition | undefined {
  for (let t = from; t <= to; t += step) {
    const tr = p.active === 'primary' ? pollOnPrimary(p, t, sample) : tickOnSecondary(p, t, sample);
    if (tr) return tr;
  }
  return undefined;
}

describe('failover policy: primary → secondary', () => {
  it('stays on a healthy primary', () => {
    const p = new FailoverPolicy(OPTS, T0);
    assert.equal(run(p, T0, T0 + 600_000, 1000, good), undefined);
    assert.equal(p.active, 'primary');
  });

  it('needs a whole observed window: no failover at windowMs - 1, failover at windowMs', () => {
    const p = new FailoverPolicy(OPTS, T0);
    for (let t = T0; t < T0 + 10_000; t += 1000)
      assert.equal(pollOnPrimary(p, t, bad), undefined, `at +${t - T0}`);
    assert.equal(pollOnPrimary(p, T0 + 9_999, bad), undefined);
    const tr = pollOnPrimary(p, T0 + 10_000, bad);
    assert.ok(tr);
    assert.deepEqual(
      { from: tr.from, to: tr.to, cause: tr.cause, errorRate: tr.errorRate },
      { from: 'primary', to: 'secondary', cause: 'link-down', errorRate: 1 },
    );
    assert.equal(p.active, 'secondary');
  });

  it('threshold edge: a rate exactly at the threshold switches, just below does not', () => {
    const at = new FailoverPolicy(OPTS, T0);
    assert.equal(run(at, T0, T0 + 9000, 1000, partly(2)), undefined);
    const tr = pollOnPrimary(at, T0 + 10_000, partly(2));
    assert.equal(tr?.cause, 'error-rate');
    assert.equal(tr?.errorRate, 0.5);

    const below = new FailoverPolicy(OPTS, T0);
    // 49 bad of 100 values per poll
    assert.equal(run(below, T0, T0 + 600_000, 1000, partly(49, 100)), undefined);
    assert.equal(below.active, 'primary');
  });

  it('needs minSamples polls in the window', () => {
    const p = new FailoverPolicy(OPTS, T0);
    // one poll every 2.5 s: at most 4 samples in a 10 s window (minSamples 5)
    assert.equal(run(p, T0, T0 + 120_000, 2500, bad), undefined);
    assert.equal(p.active, 'primary');
    const q = new FailoverPolicy({ ...OPTS, minSamples: 4 }, T0);
    assert.ok(run(q, T0, T0 + 120_000, 2500, bad));
  });

  it('measures a sliding window: old good samples age out', () => {
    const p = new FailoverPolicy(OPTS, T0);
    assert.equal(run(p, T0, T0 + 59_000, 1000, good), undefined);
    // errors from +60 s: the rate over the last 10 s reaches 0.5 after 5 bad polls
    let switched: Transition | undefined;
    let t = T0 + 60_000;
    for (; !switched; t += 1000) switched = pollOnPrimary(p, t, bad);
    assert.equal(t - 1000, T0 + 64_000);
  });

  it('does not switch to a secondary that fails its check, and re-checks it only every probeIntervalMs', () => {
    const p = new FailoverPolicy(OPTS, T0);
    const checks: number[] = [];
    for (let t = T0; t <= T0 + 30_000; t += 1000) {
      p.recordPrimary(t, bad);
      if (p.secondaryCheckDue(t)) {
        checks.push(t - T0);
        p.recordSecondary(t, bad);
        assert.equal(p.decide(t), undefined);
      }
    }
    assert.deepEqual(checks, [10_000, 15_000, 20_000, 25_000, 30_000]);
    assert.equal(p.active, 'primary');
    p.recordPrimary(T0 + 35_000, bad);
    assert.ok(p.secondaryCheckDue(T0 + 35_000));
    p.recordSecondary(T0 + 35_000, good);
    assert.equal(p.decide(T0 + 35_000)?.to, 'secondary');
  });

  it('a secondary check older than probeIntervalMs does not count', () => {
    const p = new FailoverPolicy(OPTS, T0);
    p.recordSecondary(T0, good);
    run(p, T0, T0 + 9000, 1000, bad);
    p.recordPrimary(T0 + 10_000, bad);
    assert.equal(p.decide(T0 + 10_000), undefined, 'check at T0 is 10 s old');
  });
});

describe('failover policy: secondary → primary (hysteresis)', () => {
  function failedOver(): FailoverPolicy {
    const p = new FailoverPolicy(OPTS, T0);
    assert.ok(run(p, T0, T0 + 10_000, 1000, bad));
    return p;
  }
  const at = T0 + 10_000;

  it('probes the primary every probeIntervalMs, starting one interval after the switch', () => {
    const p = failedOver();
    assert.equal(p.probeDue(at), false);
    assert.equal(p.probeDue(at + 4999), false);
    assert.equal(p.probeDue(at + 5000), true);
    p.recordPrimary(at + 5000, bad);
    assert.equal(p.probeDue(at + 9999), false);
    assert.equal(p.probeDue(at + 10_000), true);
  });

  it('switches back once every probe was healthy for recoverAfterMs (edge exact)', () => {
    const p = failedOver();
    // first healthy probe at +5 s; recoverAfterMs 30 s → back at +35 s, not at +30 s
    for (let t = at + 5000; t <= at + 30_000; t += 5000)
      assert.equal(tickOnSecondary(p, t, good), undefined, `probe at +${t - at}`);
    const back = tickOnSecondary(p, at + 35_000, good);
    assert.deepEqual(
      back && {
        from: back.from,
        to: back.to,
        cause: back.cause,
        errorRate: back.errorRate,
        samples: back.samples,
      },
      {
        from: 'secondary',
        to: 'primary',
        cause: 'primary-recovered',
        errorRate: 0,
        samples: 7,
      },
    );
    assert.equal(p.active, 'primary');
  });

  it('one unhealthy probe restarts the count; recoverErrorRate is the bar', () => {
    const p = failedOver();
    tickOnSecondary(p, at + 5000, good);
    tickOnSecondary(p, at + 10_000, good);
    tickOnSecondary(p, at + 15_000, partly(1, 4)); // 0.25 > 0.1: unhealthy
    for (let t = at + 20_000; t < at + 50_000; t += 5000)
      assert.equal(tickOnSecondary(p, t, partly(1, 10)), undefined); // 0.1 ≤ 0.1: healthy
    assert.equal(tickOnSecondary(p, at + 50_000, good)?.to, 'primary');
  });

  it('after switching back, a failing primary needs a whole new window', () => {
    const p = failedOver();
    const back = run(p, at + 5000, at + 60_000, 5000, good);
    assert.ok(back);
    const t1 = back.at;
    for (let t = t1 + 1000; t < t1 + 1000 + 10_000; t += 1000)
      assert.equal(pollOnPrimary(p, t, bad), undefined);
    assert.equal(pollOnPrimary(p, t1 + 11_000, bad)?.to, 'secondary');
  });
});

describe('failover policy: flapping', () => {
  it('a primary alternating good/bad below the threshold never switches; at the threshold it switches once and stays', () => {
    const below = new FailoverPolicy({ ...OPTS, errorRateThreshold: 0.6, recoverErrorRate: 0.1 }, T0);
    const above = new FailoverPolicy(OPTS, T0);
    const switches = { below: 0, above: 0 };
    for (let i = 0; i < 3600; i++) {
      const t = T0 + i * 1000;
      const sample = i % 2 === 0 ? good : bad;
      if (below.active === 'primary' ? pollOnPrimary(below, t, sample) : tickOnSecondary(below, t, sample))
        switches.below++;
      if (above.active === 'primary' ? pollOnPrimary(above, t, sample) : tickOnSecondary(above, t, sample))
        switches.above++;
    }
    assert.equal(switches.below, 0);
    assert.equal(switches.above, 1, 'probes alternate too, so the primary never passes the hysteresis');
  });

  it('outages of 20 s every 60 s switch at most once per (window + recoverAfterMs), never within a window of switching back', () => {
    const p = new FailoverPolicy(OPTS, T0);
    const transitions: Transition[] = [];
    for (let i = 0; i < 3 * 3600; i++) {
      const t = T0 + i * 1000;
      const sample = i % 60 < 20 ? bad : good;
      const tr = p.active === 'primary' ? pollOnPrimary(p, t, sample) : tickOnSecondary(p, t, sample);
      if (tr) transitions.push(tr);
    }
    assert.ok(transitions.length > 0);
    for (let i = 1; i < transitions.length; i++) {
      const gap = transitions[i]!.at - transitions[i - 1]!.at;
      if (transitions[i]!.to === 'secondary')
        assert.ok(gap >= OPTS.windowMs, `failover ${gap} ms after switching back`);
      else assert.ok(gap >= OPTS.recoverAfterMs, `back ${gap} ms after failing over`);
    }
    const failovers = transitions.filter((tr) => tr.to === 'secondary').length;
    assert.ok(
      failovers <= (3 * 3600_000) / (OPTS.windowMs + OPTS.recoverAfterMs) + 1,
      `${failovers} failovers`,
    );
  });

  it('property: never fails over unless the window rate is at the threshold with minSamples, never back before recoverAfterMs of healthy probes', () => {
    const step = fc.record({
      dt: fc.integer({ min: 1, max: 4000 }),
      bad: fc.integer({ min: 0, max: 4 }),
      secondaryBad: fc.integer({ min: 0, max: 4 }),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 400 }), (steps) => {
        const p = new FailoverPolicy(OPTS, T0);
        let t = T0;
        const primarySamples: Array<{ t: number; bad: number }> = [];
        const probes: Array<{ t: number; healthy: boolean }> = [];
        let lastSwitch = T0;
        for (const s of steps) {
          t += s.dt;
          const sample = partly(s.bad);
          if (p.active === 'primary') {
            primarySamples.push({ t, bad: s.bad });
            const tr = pollOnPrimary(p, t, sample, partly(s.secondaryBad));
            if (tr) {
              const inWindow = primarySamples.filter((x) => x.t > t - OPTS.windowMs && x.t >= lastSwitch);
              const rate = inWindow.reduce((a, x) => a + x.bad, 0) / (inWindow.length * 4);
              assert.ok(
                inWindow.length >= OPTS.minSamples &&
                  rate >= OPTS.errorRateThreshold &&
                  s.secondaryBad / 4 < 0.5,
              );
              assert.ok(t - lastSwitch >= OPTS.windowMs || lastSwitch === T0);
              lastSwitch = t;
              probes.length = 0;
            }
          } else if (p.probeDue(t)) {
            probes.push({ t, healthy: s.bad / 4 <= OPTS.recoverErrorRate });
            p.recordPrimary(t, sample);
            const tr = p.decide(t);
            if (tr) {
              const lastBad = [...probes].reverse().find((x) => !x.healthy);
              const firstHealthy = probes.find((x) => x.healthy && (!lastBad || x.t > lastBad.t));
              assert.ok(firstHealthy && t - firstHealthy.t >= OPTS.recoverAfterMs);
              lastSwitch = t;
              primarySamples.length = 0;
            }
          }
        }
      }),
      { numRuns: 300, seed: 4242 },
    );
  });
});
