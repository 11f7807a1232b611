/** Seeded randomness for property-style tests: the simulator's mulberry32, plus chunking. */
import { seededRandom } from '../../src/tools/dtu-sim/prng.js';

export const mulberry32 = seededRandom;

/** Splits `buf` into random chunks (1..max bytes). */
export function randomChunks(buf: Buffer, random: () => number, max = 8): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length;) {
    const n = 1 + Math.floor(random() * max);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}
