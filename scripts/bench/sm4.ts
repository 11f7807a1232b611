/**
 * SM4-GCM benchmark: seal throughput (MB/s) of edge-agent/crypto's SM4-GCM (JS SM4 + JS
 * GHASH, or native sm4-gcm where the runtime has it) vs native `sm4-ctr` alone on the
 * same buffers, in the same run, alternating rounds, medians. GCM must also hash, so the
 * ratio is the GHASH cost; target ≥ 50 %. Per message both sides create their cipher (a
 * session seals each frame under a fresh nonce). The GCM side uses a prepared Sm4GcmKey
 * as a session does; AAD is a 7-byte CIP-22 header.
 * Env: BENCH_ROUNDS (default 7), BENCH_SM4_BYTES (bytes per round and size, default 4 MiB).
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { NATIVE_SM4_GCM, Sm4GcmKey } from '../../src/crypto/index.js';
import { benchRounds, alternate, type BenchResult, envCount } from './common.js';

const ROUNDS = benchRounds(7);
const BYTES = envCount('BENCH_SM4_BYTES', 4 * 1024 * 1024, 16);
const SIZES = [64, 1024, 16 * 1024];

function mbPerSecond(size: number, work: (buf: Buffer) => void): () => number {
  const buf = randomBytes(size);
  const count = Math.max(1, Math.floor(BYTES / size));
  return () => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) work(buf);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return (count * size) / seconds / 1e6;
  };
}

export async function run(): Promise<BenchResult[]> {
  const key = randomBytes(16);
  const iv = randomBytes(12);
  const ctrIv = Buffer.concat([iv, Buffer.from([0, 0, 0, 2])]);
  const aad = Buffer.from('c1022000002207', 'hex');
  const gcm = new Sm4GcmKey(key);
  const results: BenchResult[] = [];
  for (const size of SIZES) {
    const seal = mbPerSecond(size, (buf) => gcm.seal(iv, buf, aad));
    const ctr = mbPerSecond(size, (buf) => {
      const cipher = createCipheriv('sm4-ctr', key, ctrIv);
      cipher.update(buf);
      cipher.final();
    });
    seal();
    ctr();
    const { agent, baseline } = await alternate(ROUNDS, seal, ctr);
    results.push({
      name: `SM4-GCM seal, ${size} B messages (${gcm.implementation})`,
      unit: 'MB/s',
      value: agent,
      baselineName: `native sm4-ctr, same buffers`,
      baseline,
      target: '>= 50 % of sm4-ctr',
      notes:
        size === SIZES[0]
          ? `native sm4-gcm in this runtime: ${NATIVE_SM4_GCM ? 'yes' : 'no (GCM composed from JS SM4 + JS GHASH)'}`
          : undefined,
    });
  }
  return results;
}
