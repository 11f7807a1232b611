/**
 * Copies of small buffers that live as long as a session or a cache entry (keys, IVs,
 * certificate parts), packed into one ArrayBuffer of their own. Buffer.from() and
 * allocUnsafe() cut small buffers from Node's shared 8 KiB pool, so one long-lived
 * 16-byte slice keeps its whole slab alive: a gateway with 1,000 sealed sessions kept
 * ~4 MB of slabs (heap snapshot, scripts/bench/cip22.ts) for ~100 KB of keys and certificates.
 */
export function unpooled(...parts: readonly Uint8Array[]): Buffer[] {
  let total = 0;
  for (const p of parts) total += p.length;
  const own = Buffer.allocUnsafeSlow(total);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of parts) {
    own.set(p, at);
    out.push(own.subarray(at, at + p.length));
    at += p.length;
  }
  return out;
}
