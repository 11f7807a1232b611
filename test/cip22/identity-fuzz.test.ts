/**
 * A pile's certificate bytes must never crash the gateway: random and mutated DER
 * (seeded, reproducible) either parses or throws EDGE_ERR_CIP22_CERT_MALFORMED, and the
 * chain check always returns a result and accepts nothing but the original bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EdgeError } from '../../src/core/errors.js';
import { seededRandom, randomInt, type Random } from '../../src/tools/dtu-sim/prng.js';
import {
  loadRoots,
  parseCertificate,
  signAuth,
  verifyAuth,
  verifyPileChain,
} from '../../src/cip22/identity/index.js';
import { cip22Pki } from '../helpers/cip22-pki.js';

const pki = cip22Pki();
const MUTANTS = 8_000;
const RANDOM_INPUTS = 3_000;

function mutate(source: Buffer, random: Random): Buffer {
  const out = Buffer.from(source);
  const at = (): number => randomInt(random, 0, Math.max(0, out.length - 1));
  switch (randomInt(random, 0, 7)) {
    case 0: // a few bit flips
      for (let i = randomInt(random, 1, 4); i > 0; i -= 1) out[at()]! ^= 1 << randomInt(random, 0, 7);
      return out;
    case 1: // a random byte
      out[at()] = randomInt(random, 0, 255);
      return out;
    case 2: // truncation
      return out.subarray(0, at());
    case 3: {
      // insertion
      const cut = at();
      return Buffer.concat([
        out.subarray(0, cut),
        Buffer.from([randomInt(random, 0, 255)]),
        out.subarray(cut),
      ]);
    }
    case 4: {
      // deletion
      const cut = at();
      return Buffer.concat([out.subarray(0, cut), out.subarray(cut + 1)]);
    }
    case 5: {
      // a length byte turned long-form or huge (lengths follow tags 0x30/0x02/0x03/0x04/0x06/0xa0..)
      const index = at();
      out[index] = [0x80, 0x81, 0x82, 0x83, 0x84, 0xff, 0x00, 0x7f][randomInt(random, 0, 7)]!;
      return out;
    }
    case 6: {
      // a slice of the same certificate spliced elsewhere
      const from = at();
      const length = randomInt(random, 1, 40);
      const to = at();
      return Buffer.concat([out.subarray(0, to), source.subarray(from, from + length), out.subarray(to)]);
    }
    default: // tag byte changed near the start of a structure
      out[at()] = [0x30, 0x31, 0x02, 0x03, 0x04, 0x05, 0x06, 0x13, 0x0c, 0x17, 0x18, 0xa0, 0xa3, 0x1f][
        randomInt(random, 0, 13)
      ]!;
      return out;
  }
}

function parseOrTypedError(input: Buffer): 'parsed' | 'refused' {
  try {
    parseCertificate(input);
    return 'parsed';
  } catch (error) {
    if (error instanceof EdgeError && error.code === 'EDGE_ERR_CIP22_CERT_MALFORMED') return 'refused';
    throw new Error(`untyped error for input ${input.toString('hex')}`, { cause: error });
  }
}

const sources = [
  pki.sm2.pile.der,
  pki.p256.pile.der,
  pki.sm2.issuing.der,
  pki.p256.root.der,
  pki.p256.server.der,
];

test(`X.509 parse: ${MUTANTS} mutated certificates never throw anything but EDGE_ERR_CIP22_CERT_MALFORMED`, () => {
  const random = seededRandom(0xc1922);
  const counts = { parsed: 0, refused: 0 };
  for (let i = 0; i < MUTANTS; i += 1) {
    counts[parseOrTypedError(mutate(sources[i % sources.length]!, random))] += 1;
  }
  // Both outcomes must occur, or the mutator is not exercising the parser.
  assert.ok(counts.parsed > MUTANTS / 20, `parsed ${counts.parsed}`);
  assert.ok(counts.refused > MUTANTS / 4, `refused ${counts.refused}`);
});

test(`X.509 parse: ${RANDOM_INPUTS} random buffers and DER-shaped noise are refused with the typed error`, () => {
  const random = seededRandom(7722);
  for (let i = 0; i < RANDOM_INPUTS; i += 1) {
    const body = Buffer.from(
      Array.from({ length: randomInt(random, 0, 300) }, () => randomInt(random, 0, 255)),
    );
    const shaped =
      i % 2 === 0
        ? body
        : Buffer.concat([Buffer.from([0x30, 0x82, body.length >> 8, body.length & 0xff]), body]);
    assert.equal(parseOrTypedError(shaped), 'refused');
  }
  for (const odd of [
    Buffer.alloc(0),
    Buffer.from([0x30]),
    Buffer.from([0x30, 0x80]),
    Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
  ]) {
    assert.equal(parseOrTypedError(odd), 'refused');
  }
  assert.equal(parseOrTypedError('string' as unknown as Buffer), 'refused');
});

test('chain check on mutated pile and issuing certificates: always a result, accepted only when unchanged', () => {
  const random = seededRandom(5);
  const roots = loadRoots([pki.sm2.root.der, pki.p256.root.der]);
  const chains = [
    {
      pile: pki.p256.pile.der,
      issuer: pki.p256.issuing.der,
      cn: pki.p256.deviceId,
      alg: 'ecdsa-p256' as const,
      rounds: 600,
    },
    {
      pile: pki.sm2.pile.der,
      issuer: pki.sm2.issuing.der,
      cn: pki.sm2.deviceId,
      alg: 'sm2' as const,
      rounds: 150,
    },
  ];
  const reasons = new Set<string>();
  for (const chain of chains) {
    for (let i = 0; i < chain.rounds; i += 1) {
      const mutateIssuer = i % 3 === 0;
      const pileDer = mutateIssuer ? chain.pile : mutate(chain.pile, random);
      const issuerDer = mutateIssuer ? mutate(chain.issuer, random) : chain.issuer;
      const result = verifyPileChain({
        pileDer,
        issuerDer,
        roots,
        nowMs: Date.now(),
        expectedCN: chain.cn,
        expectedAlg: chain.alg,
      });
      if (result.ok) {
        assert.ok(
          pileDer.equals(chain.pile) && issuerDer.equals(chain.issuer),
          'a changed certificate was accepted',
        );
      } else {
        reasons.add(result.reason);
      }
    }
  }
  assert.ok(reasons.has('malformed') && reasons.has('wrong-issuer'), [...reasons].join());
});

test('verifyAuth on mutated signatures: never throws, true only for the original', () => {
  const random = seededRandom(99);
  const data = Buffer.from('fuzzed auth input');
  for (const [alg, material] of [
    ['sm2', pki.sm2.pile],
    ['ecdsa-p256', pki.p256.pile],
  ] as const) {
    const key = parseCertificate(material.der).publicKey65!;
    const signature = signAuth(alg, material.key, data);
    for (let i = 0; i < 300; i += 1) {
      const mutant = mutate(signature, random);
      assert.equal(verifyAuth(alg, key, data, mutant), mutant.equals(signature));
    }
  }
});
