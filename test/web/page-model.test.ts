/**
 * What the station page shows, without a browser: model deltas carry changes only, the
 * history rings keep their bounds and precision, the OTA overview, and the views of the
 * status document. Who may see the page and what it never sends is in page.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ManualClock } from '../../src/core/clock.js';
import { badValue, goodValue, type TagValue } from '../../src/core/types.js';
import { StationModel } from '../../src/web/model.js';
import type { OtaView } from '../../src/web/ota-view.js';
import { Ring } from '../../src/web/rings.js';
import { deviceViews, publicBrokerUrl, s7Views } from '../../src/web/views.js';

describe('model deltas', () => {
  it('sends a section again only when it changed, tags only when read again, events once', () => {
    const clock = new ManualClock(1_000);
    let state = 'online';
    const model = new StationModel({
      status: () => ({ devices: [{ device: 'd1', driver: 'modbus', state, polls: 1 }] }),
      version: 't',
      brokerUrl: null,
      clock,
    });
    model.refresh();
    model.live = true;
    model.markAllSent();
    model.refresh();
    assert.equal(model.takeDelta()?.outbox !== null, true, 'the first outbox point');
    assert.equal(model.takeDelta(), undefined);
    model.reading({ device: 'd1', ts: 1_000, values: [{ tag: 'v', value: 1.5, quality: 'good' }] });
    const tags = model.takeDelta();
    assert.deepEqual(tags?.tags, { d1: { v: [1.5, 1_000] } });
    assert.deepEqual(tags?.set, {});
    model.refresh();
    assert.equal(model.takeDelta(), undefined, 'unchanged status: nothing to send');
    state = 'offline';
    model.refresh();
    const changed = model.takeDelta();
    assert.deepEqual(Object.keys(changed?.set ?? {}), ['device:d1']);
    model.record({
      device: 'agent',
      cls: 'event',
      ts: 2_000,
      body: '{"type":"x","severity":"info","data":{"code":"EDGE_ERR_X"}}',
    });
    assert.equal((model.takeDelta()?.events as unknown[]).length, 1);
    assert.equal(model.takeDelta(), undefined);
  });

  it('page-model-holds-no-reading: no TagValue of a driver and no status document outlive the call', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const held: WeakRef<object>[] = [];
    const model = new StationModel({
      status: () => {
        const doc = { devices: [{ device: 'd1', driver: 'modbus', state: 'online', polls: 1 }] };
        held.push(new WeakRef(doc));
        return doc;
      },
      version: 't',
      brokerUrl: null,
      clock: new ManualClock(1_000),
    });
    const read = (ts: number, values: TagValue[]): void => {
      for (const v of values) held.push(new WeakRef(v));
      model.reading({ device: 'd1', ts, values });
    };
    read(1_000, [goodValue('n', 1.5), goodValue('s', 'run'), badValue('b', 'EDGE_ERR_X', 'gone')]);
    read(2_000, [
      goodValue('n', 2),
      goodValue('b', true),
      { tag: 's', value: 7, quality: 'good', source: 'secondary' },
    ]);
    model.refresh();
    await new Promise<void>((resolve) => setImmediate(resolve)); // WeakRefs hold their targets for the turn
    gc();
    assert.deepEqual(
      held.filter((r) => r.deref() !== undefined).length,
      0,
      'the model keeps copies, not the objects the drivers made',
    );
    const tags = (model.snapshot().tags as Record<string, Record<string, object>>).d1 ?? {};
    assert.deepEqual(Object.fromEntries(Object.entries(tags).map(([k, v]) => [k, { ...v, h: undefined }])), {
      n: { v: 2, q: 'good', ts: 2_000, h: undefined },
      s: { v: 7, q: 'good', ts: 2_000, src: 'secondary', h: undefined },
      b: { v: true, q: 'good', ts: 2_000, h: undefined },
    });
    read(3_000, [badValue('n', 'EDGE_ERR_MODBUS_TIMEOUT', 'no answer')]);
    assert.deepEqual(
      { ...((model.snapshot().tags as Record<string, Record<string, object>>).d1?.n ?? {}), h: undefined },
      { v: null, q: 'bad', ts: 3_000, code: 'EDGE_ERR_MODBUS_TIMEOUT', reason: 'no answer', h: undefined },
    );
  });

  it('page-sections-on-demand: with no page open, a page that connects still gets the newest status', () => {
    const clock = new ManualClock(1_000);
    let state = 'online';
    let lastPollTs = 900;
    const model = new StationModel({
      status: () => ({
        devices: [{ device: 'd1', driver: 'modbus', state, polls: 1, lastPollTs, lastPollMs: 12 }],
      }),
      version: 't',
      brokerUrl: null,
      clock,
    });
    model.refresh();
    state = 'offline';
    lastPollTs = 1_900;
    model.refresh();
    model.reading({ device: 'd1', ts: 1_900, values: [{ tag: 'v', value: 2.5, quality: 'good' }] });
    const snap = model.snapshot();
    const device = (snap.set as Record<string, { state?: string }>)['device:d1'];
    assert.equal(device?.state, 'offline', 'the section of the newest status read');
    assert.deepEqual(
      (snap.latency as Record<string, unknown>).d1,
      [
        [900, 1_900],
        [12, 12],
      ],
      'both polls',
    );
    assert.deepEqual((snap.tags as Record<string, Record<string, unknown>>).d1?.v, {
      v: 2.5,
      q: 'good',
      ts: 1_900,
      h: [[1_900], [2.5]],
    });
  });

  it('page-samples-while-nobody-looks: no page open, the sample feeds the rings and the status is not built', async () => {
    const clock = new ManualClock(1_000);
    const calls = { status: 0, sample: 0 };
    let lastPollTs = 900;
    let rows = 5;
    const model = new StationModel({
      status: () => {
        calls.status++;
        return {
          devices: [
            { device: 'd1', driver: 'modbus', state: 'online', polls: 1, lastPollTs, lastPollMs: 12 },
          ],
          outbox: { rows },
          cip22: { piles: { p1: { state: 'charging', online: true } } },
        };
      },
      sample: () => {
        calls.sample++;
        return {
          outbox: { rows },
          forwarder: { publishedRecords: 0 },
          devices: [{ device: 'd1', lastPollTs, lastPollMs: 12 }],
        };
      },
      version: 't',
      brokerUrl: null,
      clock,
    });
    // The pile's last event says idle; the status (read when a page connects) says charging.
    model.record({
      device: 'p1',
      cls: 'event',
      ts: 950,
      body: '{"type":"cip22-state","severity":"info","data":{"from":"charging","to":"idle"}}',
    });
    model.refresh();
    await clock.advance(10_000); // the outbox ring keeps a point per 10 s
    lastPollTs = 1_900;
    rows = 7;
    model.refresh();
    assert.deepEqual(calls, { status: 0, sample: 2 }, 'no status document built while nobody looks');
    model.live = true;
    model.markAllSent();
    const snap = model.snapshot();
    assert.equal(calls.status, 1, 'the sections from one fresh status when a page connects');
    assert.deepEqual((snap.latency as Record<string, unknown>).d1, [
      [900, 1_900],
      [12, 12],
    ]);
    assert.deepEqual((snap.outbox as { depth: unknown }).depth, [
      [1_000, 11_000],
      [5, 7],
    ]);
    const pile = (snap.set as Record<string, { state?: string }>)['pile:p1'];
    assert.equal(pile?.state, 'charging', "the status's pile state wins over the last event seen");
    model.refresh();
    assert.deepEqual(calls, { status: 2, sample: 2 }, 'a live page gets the whole status each second');
  });

  it("the overview shows the agent's OTA status, and unknown when the agent cannot tell", () => {
    let ota: unknown = undefined;
    const model = new StationModel({
      // The LED says ota: the page must not guess from it any more.
      status: () => ({ led: 'ota', ota }),
      version: 't',
      brokerUrl: null,
      clock: new ManualClock(),
    });
    const view = (): OtaView => {
      model.refresh();
      return (model.snapshot().set as { overview: { ota: OtaView } }).overview.ota;
    };
    assert.deepEqual(
      { state: view().state, unknown: view().unknown },
      { state: 'unknown (no OTA status)', unknown: true },
    );
    const base = {
      known: true,
      problem: null,
      mode: 'split',
      running: '1.1.0',
      phase: 'trial',
      trial: {
        version: '1.1.0',
        from: '1.0.0',
        since: 1,
        boots: 2,
        judged: true,
        deadline: 61_000,
        verdict: null,
      },
      update: null,
      last: {
        outcome: 'rolled-back',
        at: 500,
        version: '1.0.0',
        from: '1.2.0',
        to: '1.0.0',
        reason: 'health-timeout',
        code: null,
      },
      floor: '0.9.0',
      readAt: 1,
    };
    ota = base;
    assert.deepEqual(view(), {
      state: '1.1.0 on trial (boot 2) · floor 0.9.0',
      last: 'rolled back 1.2.0 → 1.0.0 (health-timeout)',
      lastAt: 500,
      deadline: 61_000,
      unknown: false,
      lastBad: true,
    });
    // Split: this process found it healthy; root commits a moment later.
    ota = { ...base, trial: { ...base.trial, verdict: 'healthy' } };
    assert.deepEqual(
      { state: view().state, deadline: view().deadline },
      { state: '1.1.0 on trial (boot 2), healthy: commit pending · floor 0.9.0', deadline: null },
    );
    ota = {
      ...base,
      phase: 'idle',
      trial: null,
      floor: null,
      update: { stage: 'download', version: null, done: 250, total: 1000 },
      last: {
        ...base.last,
        outcome: 'failed',
        reason: 'bad signature',
        code: 'EDGE_ERR_OTA_SIGNATURE',
        version: '1.3.0',
      },
    };
    assert.equal(view().state, 'updating: download 25 %');
    assert.equal(view().last, 'failed 1.3.0 EDGE_ERR_OTA_SIGNATURE: bad signature');
    ota = { ...base, known: false, problem: 'state.json is not JSON', phase: null, trial: null, last: null };
    assert.deepEqual(
      { state: view().state, last: view().last, unknown: view().unknown },
      { state: 'unknown (running 1.1.0): state.json is not JSON', last: null, unknown: true },
    );
  });

  // Named case ring-history-keeps-counter-precision: the history rounded to 4 digits drew an
  // energy counter of 12 345.6 as 12 350, so every sparkline of a counter ended in a cliff.
  it("ring-history-keeps-counter-precision: a counter's history reads back as the value read", () => {
    const ring = new Ring(4, 0);
    ring.push(1, 12_345.6);
    ring.push(2, 50.03);
    assert.deepEqual(ring.toJSON()[1], [12_345.6, 50.03]);
  });

  const emptyModel = (): StationModel =>
    new StationModel({ status: () => ({}), version: 't', brokerUrl: null, clock: new ManualClock() });
  const tagValues = (n: number): { tag: string; value: number; quality: 'good' }[] =>
    Array.from({ length: n }, (_, i) => ({ tag: `t${i}`, value: i, quality: 'good' as const }));

  it('a snapshot shares a budget of history points between all tags', () => {
    const model = emptyModel();
    const values = tagValues(5000);
    for (let k = 0; k < 120; k++) model.reading({ device: 'd', ts: k * 2000, values });
    const snapshot = model.snapshot() as { tags: { d: Record<string, { h: [number[], number[]] }> } };
    assert.equal(snapshot.tags.d.t7?.h[0].length, 12);
    assert.deepEqual(snapshot.tags.d.t7?.h[0].at(-1), 119 * 2000, 'the newest points');
    const small = emptyModel();
    for (let k = 0; k < 120; k++) small.reading({ device: 'd', ts: k * 2000, values: values.slice(0, 3) });
    const full = small.snapshot() as { tags: { d: Record<string, { h: [number[], number[]] }> } };
    assert.equal(full.tags.d.t1?.h[0].length, 120);
  });

  // Named case tag-rings-hold-what-a-snapshot-sends: every tag kept 120 points (7 MB of typed
  // arrays at 100 devices × 50 tags, no page open) while a snapshot could send each 12 of them.
  it('tag-rings-hold-what-a-snapshot-sends: 5000 tags hold the shared budget, a few tags their full history', () => {
    const model = emptyModel();
    const values = tagValues(5000);
    for (let k = 0; k < 120; k++) model.reading({ device: 'd', ts: k * 2000, values });
    assert.ok(
      model.tagHistoryAllocated() <= 5000 * 16,
      `${model.tagHistoryAllocated()} points held for 5000 tags`,
    );
    const snapshot = model.snapshot() as { tags: { d: Record<string, { h: [number[], number[]] }> } };
    assert.deepEqual(
      snapshot.tags.d.t4999?.h[0],
      Array.from({ length: 12 }, (_, i) => (108 + i) * 2000),
    );
    const small = emptyModel();
    for (let k = 0; k < 200; k++) small.reading({ device: 'd', ts: k * 2000, values: values.slice(0, 3) });
    assert.equal(small.tagHistoryAllocated(), 3 * 120);
  });

  it('a ring grows as points arrive, keeps them oldest first, and never past its limit', () => {
    let limit = 5;
    const ring = new Ring(100, 0, () => limit);
    assert.ok(ring.allocated <= 8);
    for (let t = 0; t < 20; t++) ring.push(t, t);
    assert.equal(ring.allocated, 8, 'the first allocation, not grown past a limit of 5');
    assert.deepEqual(ring.toJSON()[0], [12, 13, 14, 15, 16, 17, 18, 19]);
    limit = 30;
    for (let t = 20; t < 60; t++) ring.push(t, t);
    assert.ok(ring.allocated <= 30, `${ring.allocated} points`);
    const [ts, vs] = ring.toJSON();
    assert.deepEqual(
      ts,
      Array.from({ length: ring.allocated }, (_, i) => 60 - ring.allocated + i),
    );
    assert.deepEqual(vs, ts);
  });

  it('ring-storage-on-heap: 5,000 tag rings allocate no ArrayBuffer each', () => {
    // A Float64Array of 12 points is past V8's 64-byte on-heap limit: an ArrayBuffer, a
    // backing store and a malloc block per ring, ~330 bytes more than the same doubles in
    // an array (1.6 MB at 5,000 tags).
    const before = process.memoryUsage().arrayBuffers;
    const rings = Array.from({ length: 5000 }, () => new Ring(120, 0, () => 12));
    for (const ring of rings) for (let t = 0; t < 12; t++) ring.push(t, t + 0.5);
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 100_000, `array buffers grew by ${grown} bytes for ${rings.length} rings`);
    assert.deepEqual(rings[4999]?.toJSON(), [
      Array.from({ length: 12 }, (_, t) => t),
      Array.from({ length: 12 }, (_, t) => t + 0.5),
    ]);
  });

  it('rings are bounded and keep their minimum spacing', () => {
    const ring = new Ring(4, 1_000);
    for (let t = 0; t < 20_000; t += 500) ring.push(t, t);
    const [ts, vs] = ring.toJSON();
    assert.equal(ts.length, 4);
    assert.deepEqual(ts, [16_000, 17_000, 18_000, 19_000]);
    assert.deepEqual(vs, [16_500, 17_500, 18_500, 19_500]);
  });
});

describe('views of the status document', () => {
  it('pick S7 connections, failover source and breaker by name; the broker URL loses its user info', () => {
    const status = {
      devices: [
        {
          device: 'plc-1',
          driver: 's7',
          state: 'online',
          link: {
            state: 'up',
            pduSize: 480,
            requestsPerCycle: 3,
            quarantined: [{ tag: 'DB1.X', plcCode: 5 }],
            lastError: null,
          },
        },
        {
          device: 'meter',
          driver: 'modbus',
          state: 'online',
          source: 'secondary',
          link: { active: 'secondary', link: { breaker: 'open' } },
        },
      ],
    };
    assert.deepEqual(s7Views(status), [
      {
        name: 'plc-1',
        state: 'up',
        pduSize: 480,
        requestsPerCycle: 3,
        quarantined: ['DB1.X'],
        lastError: null,
      },
    ]);
    const meter = deviceViews(status)[1];
    assert.equal(meter?.source, 'secondary');
    assert.equal(meter?.breaker, 'open');
    assert.equal(publicBrokerUrl('mqtts://user:secret@broker.example:8883'), 'mqtts://broker.example:8883');
    assert.equal(publicBrokerUrl('not a url'), null);
  });
});
