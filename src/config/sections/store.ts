import { z } from 'zod';

const synchronousMode = z.enum(['full', 'normal']);

export const storeSchema = z.strictObject({
  path: z
    .string()
    .min(1)
    .default('./data/outbox.db')
    .describe('SQLite outbox file; WAL and SHM files sit beside it'),
  maxBytes: z
    .number()
    .int()
    .positive()
    .default(512 * 1024 * 1024)
    .describe('Bound on stored record bytes'),
  maxRows: z.number().int().positive().default(5_000_000),
  maxPendingRecords: z
    .number()
    .int()
    .positive()
    .default(200_000)
    .describe(
      'Bound on records waiting for a commit (while commits fail); beyond it the oldest pending telemetry is dropped',
    ),
  batch: z
    .strictObject({
      maxRecords: z.number().int().positive().default(2000).describe('Group commit: records per transaction'),
      maxLatencyMs: z
        .number()
        .int()
        .nonnegative()
        .default(0)
        .describe(
          'Group commit: 0 commits when the event-loop turn of the first pending record ends (an idle store commits at once; records arriving during a commit share the next); above 0, a fixed wait after the first pending record (fewer, larger transactions at the cost of latency)',
        ),
      minIntervalMs: z
        .number()
        .nonnegative()
        .max(1000)
        .default(4)
        .describe(
          'Group commit with maxLatencyMs 0: a commit starts at least this long after the previous one ended, and what arrives meanwhile shares it (an idle store still commits at once). Bounds fsyncs per second under a steady stream of small appends (each costs 0.1-0.2 ms of CPU here, more on an SD card) for at most this much added latency',
        ),
      maxIntervalMs: z
        .number()
        .nonnegative()
        .max(1000)
        .default(20)
        .describe(
          'Group commit with maxLatencyMs 0: above 500 records/s the spacing between commits grows by 1 ms per 25 records/s (1,000 records/s: a commit every 20 ms) up to this bound, as each commit costs ~1 ms of CPU whatever its size. While durable appends (CIP-22 frames, ACKed once committed) flow, only their rate counts, so telemetry never delays ACKs. 0 keeps the spacing at minIntervalMs',
        ),
    })
    .prefault({}),
  synchronous: z
    .strictObject({
      telemetry: synchronousMode.default('full'),
      event: synchronousMode.default('full'),
    })
    .prefault({})
    .describe(
      'full: a committed record survives power loss. normal: the last commits may be lost on power loss (never corrupted); a batch holding a durable append (CIP-22 frames before their ACK, OTA events) commits full anyway.',
    ),
  checkpoint: z
    .strictObject({
      walMaxBytes: z
        .number()
        .int()
        .positive()
        .default(64 * 1024 * 1024),
      intervalMs: z.number().int().positive().default(30_000),
      worker: z
        .boolean()
        .default(false)
        .describe(
          'Checkpoint in a worker thread with its own connection (PASSIVE), so copying the WAL into the database file and its fsyncs never hold the event loop; costs about 10 MB RSS (a V8 isolate). Off: SQLite checkpoints every 1,000 pages inside a commit',
        ),
    })
    .prefault({}),
  integrityCheck: z.enum(['quick', 'full', 'off']).default('quick'),
  dedup: z
    .strictObject({
      maxAgeMs: z
        .number()
        .int()
        .positive()
        .default(7 * 24 * 3600 * 1000)
        .describe('Exactly-once keys are kept at least this long'),
      maxKeys: z
        .number()
        .int()
        .positive()
        .default(1_000_000)
        .describe('Beyond this many keys the oldest are pruned'),
    })
    .prefault({})
    .describe(
      'Retention of exactly-once keys (CIP-22 (pile, msg_seq)): a resend older than this is stored again',
    ),
});
export type StoreConfig = z.infer<typeof storeSchema>;
