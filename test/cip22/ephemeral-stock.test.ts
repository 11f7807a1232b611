/**
 * SM2 ephemeral keys made ahead of use by the verify pool's worker (issue 16 item 4:
 * nothing over 1 ms on the event loop; an SM2 generateKeys in onHello was ~0.33 ms of every
 * SM2 handshake's frame turn). Each key serves one session and leaves the stock when drawn;
 * the stock and the worker's share of the work are bounded; an empty stock, P-256 and an
 * inline pool (`verify.workers: 0`) make keys on the caller's thread as before.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EphemeralStock,
  VerifyPool,
  createEphemeral,
  type KeysJob,
  type VerifyOutcome,
} from '../../src/cip22/identity/index.js';
import { makeKeys } from '../../src/cip22/identity/verify-job.js';
import { CountingSink, InprocPile, StillClock, helloFrame, inprocGateway } from './inproc-pile.js';
import { cip22Pki } from '../helpers/cip22-pki.js';

const pool = (workers: number): VerifyPool => new VerifyPool({ workers, maxQueue: 8, maxQueuePerSource: 8 });

/** A maker that answers each batch when the test says so, counting what it was asked for. */
class ManualMaker {
  readonly threaded = true;
  readonly asked: KeysJob[] = [];
  private pending: ((o: VerifyOutcome) => void) | undefined;
  constructor(private readonly extra = 0) {}
  prefetch(job: KeysJob): Promise<VerifyOutcome> | undefined {
    if (this.pending) return undefined;
    this.asked.push(job);
    return new Promise((resolve) => (this.pending = resolve));
  }
  /** Answers the batch asked for (plus `extra` pairs nobody asked for); false when none is. */
  answer(): boolean {
    const resolve = this.pending;
    if (!resolve) return false;
    this.pending = undefined;
    const job = this.asked.at(-1) as KeysJob;
    resolve(makeKeys({ ...job, count: job.count + this.extra }));
    return true;
  }
}

describe('EphemeralStock', () => {
  it('draws SM2 keys made by the worker: each distinct, each a working pair, gone from the stock once drawn', async (t) => {
    const p = pool(1);
    t.after(() => p.close());
    const stock = new EphemeralStock(p, { capacity: 8, batch: 4 });
    stock.take('sm2');
    assert.equal(stock.counters.inline, 1, 'an empty stock makes the first key inline');
    await stock.settled();
    assert.equal(stock.size, 8);
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const next = stock.peek();
      const key = stock.take('sm2');
      if (next) assert.deepEqual(key.publicKey, next, 'take() uses the stock key it peeked');
      const hex = key.publicKey.toString('hex');
      assert.ok(!seen.has(hex), `key ${i} served twice`);
      seen.add(hex);
      assert.notDeepEqual(stock.peek(), key.publicKey, 'a drawn key has left the stock');
      const pile = createEphemeral('sm2');
      assert.deepEqual(key.computeSecret(pile.publicKey), pile.computeSecret(key.publicKey));
      if (i % 3 === 0) await stock.settled();
    }
    assert.ok(stock.counters.drawn >= 20, `drawn ${stock.counters.drawn}`);
    assert.equal(stock.counters.drawn + stock.counters.inline, 31);
  });

  it('is bounded: one batch at a time, never more than capacity, at most capacity keys beyond those drawn', async () => {
    const maker = new ManualMaker(10); // a batch that brings more than asked
    const stock = new EphemeralStock(maker, { capacity: 6, batch: 3 });
    for (let i = 0; i < 100; i++) stock.take('sm2'); // a flood of HELLOs before any batch lands
    assert.equal(maker.asked.length, 1, 'a single batch under way');
    assert.equal(stock.counters.inline, 100);
    while (maker.answer()) await stock.settled();
    assert.equal(stock.size, 6, 'capacity holds whatever a batch brings');
    assert.equal(maker.asked.length, 1, 'a full stock asks for nothing');
    for (let i = 0; i < 4; i++) stock.take('sm2');
    while (maker.answer()) await stock.settled();
    assert.equal(stock.size, 6);
    const asked = maker.asked.reduce((n, job) => n + job.count, 0);
    assert.ok(asked <= 6 + stock.counters.drawn, `asked for ${asked} keys, ${stock.counters.drawn} drawn`);
  });

  it('P-256 and an inline pool (verify.workers 0) make keys on the caller thread and ask no worker', async (t) => {
    const threaded = pool(1);
    const inline = pool(0);
    t.after(() => Promise.all([threaded.close(), inline.close()]));
    const p256 = new EphemeralStock(threaded);
    const noWorkers = new EphemeralStock(inline);
    for (let i = 0; i < 5; i++) {
      assert.equal(p256.take('ecdsa-p256').publicKey.length, 65);
      assert.equal(noWorkers.take('sm2').publicKey.length, 65);
    }
    await Promise.all([p256.settled(), noWorkers.settled()]);
    assert.equal(threaded.counters.prefetched + inline.counters.prefetched, 0);
    assert.equal(p256.size + noWorkers.size, 0);
  });
});

describe('VerifyPool.prefetch', () => {
  it('runs after every queued check, one at a time, and not without workers', async (t) => {
    const p = pool(1);
    t.after(() => p.close());
    assert.equal(pool(0).prefetch({ kind: 'keys', alg: 'sm2', count: 1 }), undefined);
    const order: string[] = [];
    const sm2Job = { kind: 'keys', alg: 'sm2', count: 1 } as const;
    const check = (name: string): Promise<void> =>
      (p.run(sm2Check(), name) as Promise<VerifyOutcome>).then(() => void order.push(name));
    const first = check('a');
    const second = check('b');
    const keys = p.prefetch(sm2Job)?.then((o) => void order.push(`keys ${o.keys?.length}`));
    assert.equal(p.prefetch(sm2Job), undefined, 'one prefetch at a time');
    await Promise.all([first, second, keys]);
    assert.deepEqual(order, ['a', 'b', 'keys 1']);
  });
});

/** An SM2 AUTH check that fails (r = s = 1), run in the worker. */
function sm2Check() {
  const pki = cip22Pki();
  return {
    kind: 'auth',
    alg: 'sm2',
    publicKey65: createEphemeral('sm2').publicKey,
    data: Buffer.from(pki.sm2.deviceId),
    signature: Buffer.from('3006020101020101', 'hex'),
  } as const;
}

describe('gateway: onHello takes its SM2 key from the stock', () => {
  it('a HELLO while the stock has keys generates none inline, and the session works with the drawn key', async (t) => {
    const gateway = inprocGateway(new StillClock(), new CountingSink(), { verify: { workers: 1 } });
    t.after(() => gateway.stop());
    const first = new InprocPile(gateway, '10.0.0.1');
    first.handshake('sm2'); // an empty stock: this one is made inline; the refill starts
    assert.equal(await first.answer, 'AUTH_OK');
    await gateway.ephemerals.settled();
    const stocked = gateway.ephemerals.peek();
    const { inline, drawn } = gateway.ephemerals.counters;
    assert.ok(stocked, 'the worker filled the stock');

    const pile = new InprocPile(gateway, '10.0.0.2');
    pile.handshake('sm2');
    const challenge = pile.inbox.find((m) => m.type === 'CHALLENGE');
    assert.ok(challenge?.type === 'CHALLENGE');
    assert.deepEqual(challenge.gatewayEphemeralPub, stocked, 'CHALLENGE carries the stocked key');
    assert.equal(gateway.ephemerals.counters.inline, inline, 'no key made inline');
    assert.equal(gateway.ephemerals.counters.drawn, drawn + 1);
    assert.equal(await pile.answer, 'AUTH_OK');
    // Keys agree: a sealed frame opens (a wrong Z would end the session with bad-tag).
    pile.push(pile.sealed({ type: 'HEARTBEAT', timeMs: 1n }));
    assert.equal(pile.session.isOpen, true);
    assert.equal(gateway.counter('bad-tag'), 0);
  });

  it('with verify.workers 0 a HELLO makes its key inline, as before (the stock stays empty)', () => {
    const gateway = inprocGateway(new StillClock(), new CountingSink());
    const pile = new InprocPile(gateway);
    pile.push(helloFrame(cip22Pki().sm2.deviceId, 'sm2'));
    assert.ok(pile.inbox.some((m) => m.type === 'CHALLENGE'));
    assert.equal(gateway.ephemerals.size, 0);
    assert.equal(gateway.signatures.counters.prefetched, 0);
    return gateway.stop();
  });
});
