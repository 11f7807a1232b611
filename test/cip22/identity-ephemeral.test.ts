import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgeError, type EdgeErrorCode } from '../../src/core/errors.js';
import {
  authSignedInput,
  createEphemeral,
  signAuth,
  verifyAuth,
  parseCertificate,
} from '../../src/cip22/identity/index.js';
import { sm2 } from 'sm-crypto-v2';
import { cip22Pki } from '../helpers/cip22-pki.js';
import { tempDir } from '../helpers/tmp.js';

function isCode(code: EdgeErrorCode) {
  return (error: unknown): boolean => error instanceof EdgeError && error.code === code;
}

test('ephemeral ECDH agrees on both curves; keys are fresh 65-byte points', () => {
  for (const alg of ['sm2', 'ecdsa-p256'] as const) {
    const gateway = createEphemeral(alg);
    const pile = createEphemeral(alg);
    assert.equal(gateway.publicKey.length, 65);
    assert.equal(gateway.publicKey[0], 0x04);
    assert.notDeepEqual(gateway.publicKey, pile.publicKey);
    const z = gateway.computeSecret(pile.publicKey);
    assert.equal(z.length, 32);
    assert.deepEqual(pile.computeSecret(gateway.publicKey), z);
    assert.notDeepEqual(createEphemeral(alg).computeSecret(pile.publicKey), z);
  }
});

test('ephemeral ECDH on P-256 matches openssl pkeyutl -derive', (t) => {
  const work = tempDir('edge-agent-cip22-ecdh-');
  t.after(work.remove);
  const peerKey = join(work.path, 'peer.pem');
  execFileSync('openssl', [
    'genpkey',
    '-algorithm',
    'EC',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-out',
    peerKey,
  ]);
  const ours = createEphemeral('ecdsa-p256');
  const spki = Buffer.concat([
    Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'),
    ours.publicKey,
  ]);
  const ourPub = join(work.path, 'ours.pub.pem');
  writeFileSync(ourPub, `-----BEGIN PUBLIC KEY-----\n${spki.toString('base64')}\n-----END PUBLIC KEY-----\n`);
  const secretFile = join(work.path, 'z.bin');
  execFileSync('openssl', ['pkeyutl', '-derive', '-inkey', peerKey, '-peerkey', ourPub, '-out', secretFile]);
  const peerPub = execFileSync('openssl', ['pkey', '-in', peerKey, '-pubout', '-outform', 'DER']).subarray(
    -65,
  );
  assert.deepEqual(ours.computeSecret(peerPub), readFileSync(secretFile));
});

// openssl 3.0's CLI refuses to derive with SM2-type keys, so the SM2 curve is checked
// against sm-crypto-v2 (noble-curves), an implementation independent of Node's OpenSSL.
test('ephemeral ECDH on the SM2 curve matches sm-crypto-v2', () => {
  for (let i = 0; i < 3; i += 1) {
    const ours = createEphemeral('sm2');
    const peer = sm2.generateKeyPairHex();
    const shared = Buffer.from(sm2.ecdh(peer.privateKey, ours.publicKey.toString('hex'), false));
    assert.deepEqual(ours.computeSecret(Buffer.from(peer.publicKey, 'hex')), shared.subarray(1, 33));
  }
});

test('invalid peer points are refused with EDGE_ERR_CIP22_PEER_KEY_INVALID', () => {
  for (const alg of ['sm2', 'ecdsa-p256'] as const) {
    const ours = createEphemeral(alg);
    const valid = createEphemeral(alg).publicKey;
    const offCurve = Buffer.from(valid);
    offCurve[64]! ^= 0x01;
    const otherCurve = createEphemeral(alg === 'sm2' ? 'ecdsa-p256' : 'sm2').publicKey;
    const compressed = Buffer.concat([Buffer.from([0x02 + (valid[64]! & 1)]), valid.subarray(1, 33)]);
    const bad: [string, Buffer][] = [
      ['off curve', offCurve],
      ['other curve', otherCurve],
      ['all zero coordinates', Buffer.concat([Buffer.from([4]), Buffer.alloc(64)])],
      ['point at infinity (00)', Buffer.from([0x00])],
      ['compressed', compressed],
      ['wrong prefix', Buffer.concat([Buffer.from([0x06]), valid.subarray(1)])],
      ['truncated', valid.subarray(0, 64)],
      ['empty', Buffer.alloc(0)],
      ['x = p', Buffer.concat([Buffer.from([4]), Buffer.alloc(32, 0xff), valid.subarray(33)])],
    ];
    for (const [name, point] of bad) {
      assert.throws(
        () => ours.computeSecret(point),
        isCode('EDGE_ERR_CIP22_PEER_KEY_INVALID'),
        `${alg}: ${name}`,
      );
    }
    assert.throws(
      () => ours.computeSecret('04' as unknown as Buffer),
      isCode('EDGE_ERR_CIP22_PEER_KEY_INVALID'),
    );
    assert.equal(ours.computeSecret(valid).length, 32, 'still usable after refusals');
  }
});

const nonce = Buffer.alloc(16, 0xa5);
const policyHash = Buffer.alloc(32, 0x3c);
const pileEph = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 0x11)]);
const gwEph = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 0x22)]);

test('authSignedInput lays out the fields of spec §5.3 in order', () => {
  const input = authSignedInput(nonce, 'pile-0001', policyHash, pileEph, gwEph);
  const expected = Buffer.concat([
    Buffer.from('CIP-22 AUTH'),
    nonce,
    Buffer.from([9]),
    Buffer.from('pile-0001'),
    policyHash,
    pileEph,
    gwEph,
  ]);
  assert.deepEqual(input, expected);
  assert.equal(input.length, 11 + 16 + 1 + 9 + 32 + 65 + 65);
  assert.deepEqual(authSignedInput(nonce, Buffer.from('pile-0001'), policyHash, pileEph, gwEph), expected);
  // UTF-8 length, not character count.
  assert.equal(authSignedInput(nonce, '桩-1', policyHash, pileEph, gwEph)[27], Buffer.byteLength('桩-1'));
});

test('authSignedInput refuses a wrong-sized field, naming it', () => {
  const cases: [string, () => unknown][] = [
    ['nonce', () => authSignedInput(nonce.subarray(1), 'p', policyHash, pileEph, gwEph)],
    ['device_id', () => authSignedInput(nonce, '', policyHash, pileEph, gwEph)],
    ['device_id', () => authSignedInput(nonce, 'x'.repeat(65), policyHash, pileEph, gwEph)],
    ['policy_hash', () => authSignedInput(nonce, 'p', Buffer.alloc(31), pileEph, gwEph)],
    ['pile_eph_pub', () => authSignedInput(nonce, 'p', policyHash, pileEph.subarray(1), gwEph)],
    ['gw_eph_pub', () => authSignedInput(nonce, 'p', policyHash, pileEph, Buffer.alloc(66))],
  ];
  for (const [field, run] of cases) {
    assert.throws(
      run,
      (error: unknown) =>
        isCode('EDGE_ERR_CIP22_AUTH_INPUT')(error) && (error as EdgeError).context.field === field,
      field,
    );
  }
  assert.equal(
    authSignedInput(nonce, 'x'.repeat(64), policyHash, pileEph, gwEph).length,
    11 + 16 + 1 + 64 + 32 + 130,
  );
});

test('a full AUTH exchange: pile signs the input over both ephemeral keys, gateway verifies with the certificate key', () => {
  const pki = cip22Pki();
  for (const [alg, pile] of [
    ['sm2', pki.sm2],
    ['ecdsa-p256', pki.p256],
  ] as const) {
    const gateway = createEphemeral(alg);
    const pileEphemeral = createEphemeral(alg);
    const input = authSignedInput(
      nonce,
      pile.deviceId,
      policyHash,
      pileEphemeral.publicKey,
      gateway.publicKey,
    );
    const signature = signAuth(alg, pile.pile.key, input);
    const certKey = parseCertificate(pile.pile.der).publicKey65!;
    assert.equal(verifyAuth(alg, certKey, input, signature), true);
    const swapped = authSignedInput(
      nonce,
      pile.deviceId,
      policyHash,
      gateway.publicKey,
      pileEphemeral.publicKey,
    );
    assert.equal(verifyAuth(alg, certKey, swapped, signature), false, 'ephemeral keys are bound in order');
    assert.deepEqual(
      gateway.computeSecret(pileEphemeral.publicKey),
      pileEphemeral.computeSecret(gateway.publicKey),
    );
  }
});
