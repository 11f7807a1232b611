/**
 * The replay guard of signed documents (OTA commands here; config pushes keep theirs in the
 * config history, src/reload/history.ts, by the same rule). Ids of accepted documents are
 * kept until they expire. When the file that held them is missing or unreadable, the ids are
 * gone: a document seen before could pass again within its validity window. So a guard
 * (re)created at `since` admits only documents issued after `since`; an issuer re-signs
 * (a new `issuedAt`) what it sent before the loss. A fresh station counts as a loss too:
 * it cannot tell the two apart, and the guard is created when the agent starts.
 */
export interface SeenDocument {
  readonly id: string;
  readonly expiresAt: number;
}

export interface GuardedDocument extends SeenDocument {
  readonly issuedAt: number;
}

export interface ReplayGuard {
  readonly seen: readonly SeenDocument[];
  /** The guard was (re)created then, its earlier ids unknown: documents issued at or before are refused. */
  readonly since?: number;
}

/** The guard with `doc` recorded, or undefined when `doc` was (or may have been) accepted before. */
export function admit(guard: ReplayGuard, doc: GuardedDocument, now: number): ReplayGuard | undefined {
  if (guard.since !== undefined && doc.issuedAt <= guard.since) return undefined;
  if (guard.seen.some((c) => c.id === doc.id)) return undefined;
  return {
    ...guard,
    seen: [...guard.seen.filter((c) => c.expiresAt > now), { id: doc.id, expiresAt: doc.expiresAt }],
  };
}

/** Why a document was refused, for the result: a replay, or issued before the guard was re-created. */
export function refusalReason(guard: ReplayGuard, doc: GuardedDocument): string {
  return guard.since !== undefined && doc.issuedAt <= guard.since
    ? `was issued before the replay guard was re-created (${new Date(guard.since).toISOString()}: its state was missing or unreadable); sign it again`
    : 'was already accepted once';
}

/** A guard file's content: `{since?, seen}`, or the bare list older agents wrote; else undefined. */
export function parseGuard(text: string): ReplayGuard | undefined {
  try {
    const doc = JSON.parse(text) as unknown;
    const list = Array.isArray(doc) ? doc : (doc as { seen?: unknown } | null)?.seen;
    if (!Array.isArray(list) || !list.every(isSeen)) return undefined;
    const since = Array.isArray(doc) ? undefined : (doc as { since?: unknown }).since;
    if (since !== undefined && typeof since !== 'number') return undefined;
    return { seen: list, ...(since !== undefined ? { since } : {}) };
  } catch {
    return undefined;
  }
}

function isSeen(value: unknown): value is SeenDocument {
  const v = value as Partial<SeenDocument> | null;
  return typeof v?.id === 'string' && typeof v.expiresAt === 'number';
}
