/**
 * Starting several peers for one suite. With `Promise.all`, a peer that fails to start
 * rejects the whole start while the others keep running with nobody holding them: the
 * test file never exits and the suite hangs. `startAll` waits for every start to settle,
 * releases each peer that did start when any failed, and throws one error naming every
 * failure (each start error carries its peer's stderr).
 */
export type Releasable = { close(): Promise<void> } | { stop(): Promise<void> };

function release(peer: Releasable): Promise<void> {
  return 'close' in peer ? peer.close() : peer.stop();
}

export async function startAll<const T extends readonly Promise<Releasable>[]>(
  starts: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(starts);
  const failures: unknown[] = [];
  const started: Releasable[] = [];
  for (const result of settled) {
    if (result.status === 'fulfilled') started.push(result.value);
    else failures.push(result.reason as unknown);
  }
  if (failures.length === 0) return started as { -readonly [K in keyof T]: Awaited<T[K]> };
  const releases = await Promise.allSettled(started.map(release));
  const releaseFailures = releases.flatMap((r): unknown[] => (r.status === 'rejected' ? [r.reason] : []));
  const message = [...failures, ...releaseFailures]
    .map((e) => (e instanceof Error ? e.message : String(e)))
    .join('\n---\n');
  throw new AggregateError(
    [...failures, ...releaseFailures],
    `${failures.length} of ${settled.length} peers failed to start (${started.length} started ones released):\n${message}`,
  );
}
