/** Sealed sessions: replay/drop/reorder close the session; resend is stored once; commands incl. upgrade during charge; heartbeat loss. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CIP22_REASONS } from '../../src/cip22/codec/index.js';
import { waitFor } from '../helpers/wait.js';
import { type Fixture, startGateway } from './gateway-fixture.js';

function events(fx: Fixture, device: string, type: string): Record<string, unknown>[] {
  return fx.outbox
    .read(0, 100_000, 1e12)
    .filter((r) => r.device === device && r.cls === 'event')
    .map((r) => JSON.parse(r.body) as { type: string; data: Record<string, unknown> })
    .filter((b) => b.type === type)
    .map((b) => b.data);
}

describe('CIP-22 sealed sessions', () => {
  let fx: Fixture;
  before(async () => {
    fx = await startGateway({ heartbeatMs: 200 });
  });
  after(() => fx.stop());

  for (const fault of ['replayed', 'dropped', 'reordered'] as const) {
    it(`a ${fault} sealed frame fails its tag: ERROR bad-tag, session closed, counted`, async () => {
      const pile = fx.pile('sm2');
      await pile.connect();
      const before = fx.gateway.counter('bad-tag');
      const a = pile.sealNext({ type: 'HEARTBEAT', timeMs: 1n });
      const b = pile.sealNext({ type: 'HEARTBEAT', timeMs: 2n });
      if (fault === 'replayed') pile.writeRaw(Buffer.concat([a, a]));
      if (fault === 'dropped') pile.writeRaw(b);
      if (fault === 'reordered') pile.writeRaw(Buffer.concat([b, a]));
      const end = await pile.ended;
      assert.deepEqual(end.kind === 'error' ? end.reason : end, CIP22_REASONS['bad-tag']);
      assert.equal(fx.gateway.counter('bad-tag'), before + 1);
    });
  }

  it('frames not acknowledged before a disconnect are resent and stored once per (pile, msg_seq)', async () => {
    const pile = fx.pile('p256');
    await pile.connect();
    const seq = pile.send({ type: 'STATUS', state: 0, energyWh: 1 });
    await waitFor('ACK', () => pile.unackedCount === 0);
    // Pretend the ACK was lost: the pile still holds the frame and resends it on reconnect.
    (pile as unknown as { unacked: Map<number, unknown> }).unacked.set(seq, {
      type: 'STATUS',
      state: 0,
      energyWh: 1,
    });
    pile.close();
    await waitFor('offline', () => fx.gateway.pileState(pile.deviceId) === 'OFFLINE');
    const dupBefore = fx.gateway.counter('duplicate');
    await pile.connect();
    await waitFor('resend ACKed', () => pile.unackedCount === 0);
    assert.equal(fx.gateway.counter('duplicate'), dupBefore + 1);
    const stored = fx.outbox
      .read(0, 100_000, 1e12)
      .filter((r) => r.device === pile.deviceId && r.body.includes(`"msg_seq":{"v":${seq},`));
    assert.equal(stored.length, 1);
    pile.close();
  });

  it('upgrade asked while charging: stop, its CMD_ACK, then begin-upgrade; billing stored; results published', async () => {
    const pile = fx.pile('sm2');
    await pile.connect();
    const id = pile.deviceId;
    pile.send({ type: 'STATUS', state: 1, energyWh: 10 });
    await waitFor('CHARGING', () => fx.gateway.pileState(id) === 'CHARGING');
    const commands: number[] = [];
    pile.onFrame((m) => void (m.type === 'CMD' && commands.push(m.command)));
    fx.channel.inject(`${id}/cmd`, JSON.stringify({ id: 'u1', command: 'begin-upgrade', ts: Date.now() }));
    await waitFor('UPGRADING', () => fx.gateway.pileState(id) === 'UPGRADING');
    assert.deepEqual(commands, [2, 4], 'stop first, then begin-upgrade');
    const results = fx.channel.published
      .filter((p) => p.topic === `edge/site/${id}/cmd/result`)
      .map((p) => JSON.parse(p.payload.toString()) as { id: string; ok: boolean });
    await waitFor('result published', () =>
      fx.channel.published.some((p) => p.topic.endsWith(`${id}/cmd/result`)),
    );
    assert.ok(results.length <= 1);
    const billing = events(fx, id, 'cip22-charging-session');
    assert.equal(billing.length, 1);
    assert.equal(billing[0]!.energyWh, 10);
    assert.equal(billing[0]!.endCause, 'cmd-stop');
    const states = events(fx, id, 'cip22-state').map((d) => `${String(d.from)}>${String(d.to)}`);
    assert.ok(states.includes('CHARGING>STANDBY') && states.includes('STANDBY>UPGRADING'), states.join(','));
    pile.close();
  });

  it('a command not in allowCommands or for an unknown pile is refused with a published result', async () => {
    fx.channel.inject('nobody/cmd', JSON.stringify({ id: 'x', command: 'start', ts: Date.now() }));
    fx.channel.inject('pile-sm2-0001/cmd', '{not json');
    const pub = fx.channel.published
      .filter((p) => p.topic === 'edge/site/pile-sm2-0001/cmd/result')
      .map((p) => JSON.parse(p.payload.toString()) as { ok: boolean; error?: string });
    assert.ok(pub.some((r) => r.ok === false && r.error?.startsWith('bad-request')));
    assert.equal(
      fx.channel.published.filter((p) => p.topic.startsWith('edge/site/nobody')).length,
      0,
      'unknown piles are not subscribed',
    );
  });

  it('3 heartbeat intervals of silence: OFFLINE event and ERROR heartbeat-timeout', async () => {
    const pile = fx.pile('p256');
    await pile.connect();
    const end = await pile.ended;
    assert.equal(end.kind === 'error' && end.reason, CIP22_REASONS['heartbeat-timeout']);
    assert.equal(fx.gateway.pileState(pile.deviceId), 'OFFLINE');
    await waitFor(
      'OFFLINE event stored',
      () => events(fx, pile.deviceId, 'cip22-state').at(-1)?.cause === 'heartbeat-lost',
    );
  });

  it('a frame the pile sends during its handshake waits for AUTH_OK (case: pile-sim STATUS timer during reconnect)', async () => {
    const pile = fx.pile('p256');
    const connecting = pile.connect();
    const seq = pile.send({ type: 'STATUS', state: 0, energyWh: 5 });
    await connecting;
    await waitFor('ACK of the early frame', () =>
      pile.received.some((m) => m.type === 'ACK' && m.msgSeq === seq),
    );
    pile.close();
  });

  it('bad bytes before AUTH end in AUTH_FAIL with a reason, never a crash', async () => {
    const pile = fx.pile('sm2');
    const p = pile.connect().catch(() => undefined);
    pile.writeRaw(Buffer.from([0xc1, 0x02, 0x20, 0x00, 0xff, 0xff, 0x01]));
    await p;
    const end = await pile.ended;
    assert.ok(end.kind === 'auth-fail' || end.kind === 'closed');
  });
});
