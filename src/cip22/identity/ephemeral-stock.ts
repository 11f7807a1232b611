/**
 * SM2 ephemeral keys made ahead of use, off the event loop. `createECDH('SM2').generateKeys()`
 * is ~0.33 ms of OpenSSL's generic curve arithmetic (P-256: ~0.03 ms), and onHello ran it
 * in the frame's turn: a fifth of an SM2 handshake's long turns on the gateway's loop.
 * The verify pool's worker makes small batches while it has nothing to check; a HELLO
 * takes one pair, which leaves the stock at once (each key serves exactly one session) and
 * is dropped by the session once its keys are derived.
 *
 * An empty stock (a burst of first contacts, or a worker busy checking) makes the key
 * inline, as before: waiting for the worker would put a key behind SM2 checks of ~3 ms each
 * and so delay every CHALLENGE of a burst, while the inline key costs what every HELLO cost
 * before. The work is bounded both ways: the stock holds `capacity` pairs at most, one
 * batch is made at a time, only when no check waits, and only after a HELLO took a key
 * (the worker makes at most `capacity` keys more than HELLOs used, and HELLOs are capped
 * per source and minute, and in total before authentication, at accept: admission.ts).
 */
import type { IdentityAlg } from './algorithms.js';
import { createEphemeral, ephemeralFromPair, type Ephemeral } from './ephemeral.js';
import type { KeyPair, KeysJob, VerifyOutcome } from './verify-job.js';

/** Where batches are made: the verify pool (its `prefetch` runs only on an idle worker). */
export interface KeyMaker {
  readonly threaded: boolean;
  prefetch(job: KeysJob): Promise<VerifyOutcome> | undefined;
}

export interface StockOptions {
  /** Pairs held at most. */
  readonly capacity: number;
  /** Pairs per worker job: a check that arrives meanwhile waits at most this many key generations. */
  readonly batch: number;
}

const DEFAULTS: StockOptions = { capacity: 16, batch: 4 };

export class EphemeralStock {
  private readonly pairs: KeyPair[] = [];
  private refilling: Promise<void> | undefined;
  /** drawn: keys served from the stock; inline: made on the caller's thread; made: by the worker. */
  readonly counters = { drawn: 0, inline: 0, made: 0 };

  constructor(
    private readonly maker: KeyMaker,
    private readonly options: StockOptions = DEFAULTS,
  ) {}

  /**
   * A session's ephemeral key. SM2 with worker threads: from the stock when it has one,
   * else made here; then a refill is asked for. P-256 (native, ~0.03 ms) and an inline
   * pool (`verify.workers: 0`): made here, as before.
   */
  take(alg: IdentityAlg): Ephemeral {
    if (alg !== 'sm2' || !this.maker.threaded) return createEphemeral(alg);
    const pair = this.pairs.shift();
    this.refill();
    if (!pair) {
      this.counters.inline++;
      return createEphemeral(alg);
    }
    this.counters.drawn++;
    return ephemeralFromPair(alg, Buffer.from(pair.publicKey), Buffer.from(pair.privateKey));
  }

  /** Pairs held now. */
  get size(): number {
    return this.pairs.length;
  }

  /** The public key the next take() will use (tests). */
  peek(): Buffer | undefined {
    const next = this.pairs[0];
    return next && Buffer.from(next.publicKey);
  }

  /** Resolves once no refill is under way (tests: the stock is then as full as it gets). */
  async settled(): Promise<void> {
    while (this.refilling) await this.refilling;
  }

  /** Asks for one batch while a whole one fits; the next is asked for when it lands. */
  private refill(): void {
    const room = this.options.capacity - this.pairs.length;
    if (this.refilling || room < this.options.batch) return;
    const job = this.maker.prefetch({ kind: 'keys', alg: 'sm2', count: this.options.batch });
    if (!job) return;
    this.refilling = job.then(
      (outcome) => {
        this.refilling = undefined;
        for (const pair of outcome.keys ?? []) {
          if (this.pairs.length >= this.options.capacity) break;
          this.pairs.push(pair);
          this.counters.made++;
        }
        this.refill();
      },
      () => {
        // The pool closed (gateway stopping) or lost its worker: HELLOs make their own keys.
        this.refilling = undefined;
      },
    );
  }
}
