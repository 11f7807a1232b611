/** Every transition of spec §8 on the pure pile state machine, with numbers for time. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Effect, PileMachine, type PileState } from '../../src/cip22/state/machine.js';

const HB = 10_000;
const UPGRADE = 60_000;
const T0 = 1_000_000;

function machine(): PileMachine {
  return new PileMachine({ heartbeatMs: HB, upgradeTimeoutMs: UPGRADE });
}

function transitions(effects: Effect[]): string[] {
  return effects.flatMap((e) => (e.kind === 'transition' ? [`${e.from}>${e.to}:${e.cause}`] : []));
}

function sent(effects: Effect[]): { wireId: number; command: string }[] {
  return effects.flatMap((e) => (e.kind === 'send' ? [{ wireId: e.wireId, command: e.command }] : []));
}

function only<K extends Effect['kind']>(effects: Effect[], kind: K): Extract<Effect, { kind: K }>[] {
  return effects.filter((e): e is Extract<Effect, { kind: K }> => e.kind === kind);
}

/** A machine driven into `state` by frames, at T0. */
function inState(state: PileState): PileMachine {
  const m = machine();
  if (state === 'OFFLINE') return m;
  m.authOk(T0);
  if (state === 'CHARGING') m.status({ state: 1 }, T0);
  if (state === 'FAULT') m.fault(T0);
  if (state === 'UPGRADING') {
    const [send] = sent(m.request('u', 'begin-upgrade'));
    m.cmdAck(send!.wireId, 0, T0);
  }
  assert.equal(m.state, state);
  return m;
}

describe('pile state machine', () => {
  it('OFFLINE → STANDBY on AUTH_OK, with an event carrying from, to, cause and time', () => {
    const m = machine();
    const effects = m.authOk(T0);
    assert.deepEqual(effects, [
      { kind: 'transition', from: 'OFFLINE', to: 'STANDBY', cause: 'auth-ok', ts: T0 },
    ]);
  });

  it('frames while OFFLINE change nothing', () => {
    const m = machine();
    assert.deepEqual(m.status({ state: 1 }, T0), []);
    assert.deepEqual(m.fault(T0), []);
    assert.deepEqual(m.cmdAck(1, 0, T0), []);
    assert.deepEqual(m.check(T0 + 10 * HB), []);
    assert.equal(m.nextDeadline(), null);
    assert.equal(m.state, 'OFFLINE');
  });

  it('STANDBY → CHARGING on STATUS state 1', () => {
    const m = inState('STANDBY');
    assert.deepEqual(transitions(m.status({ state: 1 }, T0 + 1)), ['STANDBY>CHARGING:status-charging']);
  });

  it('STANDBY → CHARGING when CMD start is acknowledged with result 0, and the result is reported', () => {
    const m = inState('STANDBY');
    const [send] = sent(m.request('r1', 'start', { maxCurrentMa: 3000 }));
    assert.equal(send!.command, 'start');
    assert.equal(m.state, 'STANDBY', 'the command alone changes nothing');
    const effects = m.cmdAck(send!.wireId, 0, T0 + 5);
    assert.deepEqual(transitions(effects), ['STANDBY>CHARGING:cmd-start']);
    assert.deepEqual(only(effects, 'result'), [
      { kind: 'result', requestId: 'r1', command: 'start', ok: true, result: 0 },
    ]);
  });

  it('a refused start (result ≠ 0) is reported and changes nothing', () => {
    const m = inState('STANDBY');
    const [send] = sent(m.request('r1', 'start'));
    const effects = m.cmdAck(send!.wireId, 7, T0);
    assert.deepEqual(transitions(effects), []);
    assert.deepEqual(only(effects, 'result'), [
      { kind: 'result', requestId: 'r1', command: 'start', ok: false, result: 7 },
    ]);
  });

  it('CHARGING → STANDBY on STATUS state 0 closes a billing record with the highest energy seen', () => {
    const m = inState('STANDBY');
    m.status({ state: 1, energyWh: 0 }, T0 + 1000);
    m.status({ state: 1, energyWh: 120 }, T0 + 2000);
    const effects = m.status({ state: 0, energyWh: 0 }, T0 + 3000);
    assert.deepEqual(transitions(effects), ['CHARGING>STANDBY:status-idle']);
    assert.deepEqual(only(effects, 'billing'), [
      { kind: 'billing', startTs: T0 + 1000, stopTs: T0 + 3000, energyWh: 120, endCause: 'status-idle' },
    ]);
  });

  it('CHARGING → STANDBY when CMD stop is acknowledged, billing included', () => {
    const m = inState('CHARGING');
    m.status({ state: 1, energyWh: 42 }, T0 + 10);
    const [send] = sent(m.request('s', 'stop'));
    const effects = m.cmdAck(send!.wireId, 0, T0 + 20);
    assert.deepEqual(transitions(effects), ['CHARGING>STANDBY:cmd-stop']);
    assert.equal(only(effects, 'billing')[0]!.energyWh, 42);
    assert.equal(only(effects, 'billing')[0]!.endCause, 'cmd-stop');
  });

  for (const from of ['STANDBY', 'CHARGING', 'UPGRADING'] as const) {
    it(`${from} → FAULT on a FAULT frame, STATUS fault code ≠ 0 and STATUS state 2`, () => {
      assert.deepEqual(transitions(inState(from).fault(T0 + 1)), [`${from}>FAULT:fault-frame`]);
      assert.deepEqual(transitions(inState(from).status({ faultCode: 12 }, T0 + 1)), [
        `${from}>FAULT:status-fault`,
      ]);
      assert.deepEqual(transitions(inState(from).status({ state: 2 }, T0 + 1)), [
        `${from}>FAULT:status-fault`,
      ]);
      assert.deepEqual(transitions(inState(from).status({ state: 0, faultCode: 3 }, T0 + 1)), [
        `${from}>FAULT:status-fault`,
      ]);
    });
  }

  it('a charge that ends in FAULT is billed with end cause fault', () => {
    const m = inState('CHARGING');
    m.status({ state: 1, energyWh: 9 }, T0 + 1);
    const billing = only(m.fault(T0 + 2), 'billing');
    assert.deepEqual(billing, [
      { kind: 'billing', startTs: T0, stopTs: T0 + 2, energyWh: 9, endCause: 'fault' },
    ]);
  });

  it('FAULT stays FAULT on further faults (no duplicate transition)', () => {
    const m = inState('FAULT');
    assert.deepEqual(m.fault(T0 + 1), []);
    assert.deepEqual(m.status({ state: 2, faultCode: 4 }, T0 + 2), []);
  });

  it('FAULT → STANDBY on STATUS state 0', () => {
    assert.deepEqual(transitions(inState('FAULT').status({ state: 0 }, T0 + 1)), [
      'FAULT>STANDBY:status-idle',
    ]);
  });

  it('FAULT → STANDBY on STATUS fault code 0 only after an acknowledged reset', () => {
    const m = inState('FAULT');
    assert.deepEqual(
      m.status({ state: 3, faultCode: 0 }, T0 + 1),
      [],
      'fault code 0 without a reset keeps FAULT',
    );
    const [send] = sent(m.request('x', 'reset'));
    const ack = m.cmdAck(send!.wireId, 0, T0 + 2);
    assert.deepEqual(only(ack, 'result'), [
      { kind: 'result', requestId: 'x', command: 'reset', ok: true, result: 0 },
    ]);
    assert.equal(m.state, 'FAULT', 'the reset alone changes nothing');
    assert.deepEqual(m.status({ state: 3 }, T0 + 3), [], 'no fault code: still FAULT');
    assert.deepEqual(transitions(m.status({ state: 3, faultCode: 0 }, T0 + 4)), [
      'FAULT>STANDBY:fault-cleared',
    ]);
  });

  it('a refused reset does not arm the fault-cleared path', () => {
    const m = inState('FAULT');
    const [send] = sent(m.request('x', 'reset'));
    m.cmdAck(send!.wireId, 1, T0 + 1);
    assert.deepEqual(m.status({ faultCode: 0 }, T0 + 2), []);
  });

  it('a reset acknowledged in an earlier FAULT does not clear a later one', () => {
    const m = inState('FAULT');
    const [send] = sent(m.request('x', 'reset'));
    m.cmdAck(send!.wireId, 0, T0 + 1);
    m.status({ state: 0 }, T0 + 2);
    m.fault(T0 + 3);
    assert.deepEqual(m.status({ faultCode: 0 }, T0 + 4), []);
    assert.equal(m.state, 'FAULT');
  });

  it('FAULT cleared by a STATUS that says charging goes on to CHARGING', () => {
    const m = inState('FAULT');
    assert.deepEqual(transitions(m.status({ state: 1, faultCode: 0 }, T0 + 1)), []);
    const [send] = sent(m.request('x', 'reset'));
    m.cmdAck(send!.wireId, 0, T0 + 2);
    assert.deepEqual(transitions(m.status({ state: 1, faultCode: 0 }, T0 + 3)), [
      'FAULT>STANDBY:fault-cleared',
      'STANDBY>CHARGING:status-charging',
    ]);
  });

  it('STANDBY → UPGRADING when begin-upgrade is acknowledged', () => {
    const m = inState('STANDBY');
    const [send] = sent(m.request('u', 'begin-upgrade', { url: 'x' }));
    assert.equal(send!.command, 'begin-upgrade');
    const effects = m.cmdAck(send!.wireId, 0, T0 + 1);
    assert.deepEqual(transitions(effects), ['STANDBY>UPGRADING:cmd-begin-upgrade']);
    assert.equal(only(effects, 'result')[0]!.ok, true);
  });

  it('begin-upgrade while CHARGING: stop first, wait for its ACK, then begin the upgrade', () => {
    const m = inState('CHARGING');
    const first = m.request('u1', 'begin-upgrade', { image: 'fw-2' });
    assert.deepEqual(
      sent(first).map((s) => s.command),
      ['stop'],
      'only the stop goes out',
    );
    assert.equal(m.state, 'CHARGING');
    const afterStop = m.cmdAck(sent(first)[0]!.wireId, 0, T0 + 10);
    assert.deepEqual(transitions(afterStop), ['CHARGING>STANDBY:cmd-stop']);
    assert.equal(only(afterStop, 'billing').length, 1);
    assert.deepEqual(only(afterStop, 'result'), [], 'the upgrade request is not answered yet');
    const upgrade = afterStop.find((e) => e.kind === 'send');
    assert.ok(upgrade && upgrade.kind === 'send');
    assert.equal(upgrade.command, 'begin-upgrade');
    assert.deepEqual(upgrade.params, { image: 'fw-2' });
    const done = m.cmdAck(upgrade.wireId, 0, T0 + 20);
    assert.deepEqual(transitions(done), ['STANDBY>UPGRADING:cmd-begin-upgrade']);
    assert.deepEqual(only(done, 'result'), [
      { kind: 'result', requestId: 'u1', command: 'begin-upgrade', ok: true, result: 0 },
    ]);
  });

  it('begin-upgrade while CHARGING: a refused stop fails the upgrade request, nothing else', () => {
    const m = inState('CHARGING');
    const [stop] = sent(m.request('u1', 'begin-upgrade'));
    const effects = m.cmdAck(stop!.wireId, 5, T0 + 1);
    assert.deepEqual(effects, [
      {
        kind: 'result',
        requestId: 'u1',
        command: 'begin-upgrade',
        ok: false,
        result: 5,
        error: 'stop-refused',
      },
    ]);
    assert.equal(m.state, 'CHARGING');
  });

  it('begin-upgrade while CHARGING: a STATUS idle before the stop ACK still leads to the upgrade', () => {
    const m = inState('CHARGING');
    const [stop] = sent(m.request('u1', 'begin-upgrade'));
    assert.deepEqual(transitions(m.status({ state: 0 }, T0 + 1)), ['CHARGING>STANDBY:status-idle']);
    const effects = m.cmdAck(stop!.wireId, 0, T0 + 2);
    assert.deepEqual(transitions(effects), []);
    assert.deepEqual(
      sent(effects).map((s) => s.command),
      ['begin-upgrade'],
    );
  });

  it('begin-upgrade is refused locally in FAULT and UPGRADING; every command is refused OFFLINE', () => {
    for (const state of ['FAULT', 'UPGRADING'] as const) {
      assert.deepEqual(inState(state).request('q', 'begin-upgrade'), [
        { kind: 'result', requestId: 'q', command: 'begin-upgrade', ok: false, error: `state ${state}` },
      ]);
    }
    for (const command of ['start', 'stop', 'reset', 'begin-upgrade'] as const) {
      assert.deepEqual(machine().request('q', command), [
        { kind: 'result', requestId: 'q', command, ok: false, error: 'offline' },
      ]);
    }
  });

  it('UPGRADING → STANDBY on STATUS state 0', () => {
    assert.deepEqual(transitions(inState('UPGRADING').status({ state: 0 }, T0 + 1)), [
      'UPGRADING>STANDBY:status-idle',
    ]);
  });

  it('UPGRADING → FAULT when no STATUS arrives within the upgrade timeout (heartbeats do not count)', () => {
    const m = inState('UPGRADING');
    assert.equal(m.nextDeadline(), T0 + Math.min(UPGRADE, 3 * HB));
    for (let t = T0 + HB; t < T0 + UPGRADE; t += HB) {
      m.frame(t);
      assert.deepEqual(m.check(t), []);
    }
    m.frame(T0 + UPGRADE - 1);
    assert.deepEqual(m.check(T0 + UPGRADE - 1), []);
    assert.deepEqual(transitions(m.check(T0 + UPGRADE)), ['UPGRADING>FAULT:upgrade-timeout']);
  });

  it('a STATUS during the upgrade restarts the upgrade timeout', () => {
    const m = inState('UPGRADING');
    m.status({ state: 3 }, T0 + UPGRADE - 1000);
    for (let t = T0 + HB; t <= T0 + 2 * UPGRADE - 1001; t += HB) m.frame(t);
    m.frame(T0 + 2 * UPGRADE - 1001);
    assert.deepEqual(m.check(T0 + 2 * UPGRADE - 1001), []);
    assert.deepEqual(transitions(m.check(T0 + 2 * UPGRADE - 1000)), ['UPGRADING>FAULT:upgrade-timeout']);
  });

  for (const from of ['STANDBY', 'CHARGING', 'FAULT', 'UPGRADING'] as const) {
    it(`${from} → OFFLINE after 3 heartbeat intervals without a frame, not before`, () => {
      const m = inState(from);
      assert.deepEqual(m.check(T0 + 3 * HB - 1), []);
      const effects = m.check(T0 + 3 * HB);
      assert.deepEqual(transitions(effects), [`${from}>OFFLINE:heartbeat-lost`]);
      assert.equal(m.nextDeadline(), null);
    });

    it(`${from} → OFFLINE when the session closes`, () => {
      assert.deepEqual(transitions(inState(from).closed('session-closed', T0 + 1)), [
        `${from}>OFFLINE:session-closed`,
      ]);
    });
  }

  it('any frame pushes the heartbeat deadline', () => {
    const m = inState('STANDBY');
    m.frame(T0 + 2 * HB);
    assert.equal(m.nextDeadline(), T0 + 5 * HB);
    assert.deepEqual(m.check(T0 + 3 * HB), []);
  });

  it('going OFFLINE bills an open charge and fails pending commands', () => {
    const m = inState('CHARGING');
    m.status({ state: 1, energyWh: 5 }, T0 + 1);
    m.request('a', 'stop');
    const effects = m.check(T0 + 1 + 3 * HB);
    assert.deepEqual(only(effects, 'billing'), [
      { kind: 'billing', startTs: T0, stopTs: T0 + 1 + 3 * HB, energyWh: 5, endCause: 'offline' },
    ]);
    assert.deepEqual(only(effects, 'result'), [
      { kind: 'result', requestId: 'a', command: 'stop', ok: false, error: 'offline' },
    ]);
    assert.equal(m.pendingCommands, 0);
  });

  it('a pending stop-before-upgrade fails the upgrade request when the pile goes OFFLINE', () => {
    const m = inState('CHARGING');
    m.request('u', 'begin-upgrade');
    assert.deepEqual(only(m.closed('session-closed', T0 + 1), 'result'), [
      { kind: 'result', requestId: 'u', command: 'begin-upgrade', ok: false, error: 'offline' },
    ]);
  });

  it('AUTH_OK while online (a new session for the same pile) passes through OFFLINE', () => {
    const m = inState('CHARGING');
    assert.deepEqual(transitions(m.authOk(T0 + 5)), [
      'CHARGING>OFFLINE:session-replaced',
      'OFFLINE>STANDBY:auth-ok',
    ]);
  });

  it('an unknown CMD_ACK id changes nothing; wire ids are distinct u32 values that wrap', () => {
    const m = new PileMachine({ heartbeatMs: HB, upgradeTimeoutMs: UPGRADE, firstWireId: 0xffffffff });
    m.authOk(T0);
    assert.deepEqual(m.cmdAck(1234, 0, T0), []);
    const a = sent(m.request('a', 'start'))[0]!.wireId;
    const b = sent(m.request('b', 'stop'))[0]!.wireId;
    assert.equal(a, 0xffffffff);
    assert.equal(b, 0);
  });

  it('a command acknowledged in a state it does not apply to changes nothing but is reported', () => {
    const m = inState('CHARGING');
    const [start] = sent(m.request('a', 'start'));
    const effects = m.cmdAck(start!.wireId, 0, T0 + 1);
    assert.deepEqual(transitions(effects), []);
    assert.equal(only(effects, 'result')[0]!.ok, true);
  });
});
