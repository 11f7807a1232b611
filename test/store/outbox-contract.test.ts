import { fdatasyncSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../src/core/ports.js';
import { storeSchema } from '../../src/config/sections/store.js';
import { MemoryOutbox } from './memory-outbox.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { tempDir } from '../helpers/tmp.js';
import { outboxContract, type OutboxFactory } from './outbox-contract.js';
import { outboxGapContract } from './outbox-gaps.js';

const memory: OutboxFactory = ({ clock, maxRows, maxBytes, batchMaxRecords, batchMaxLatencyMs }) => {
  const outbox = new MemoryOutbox({ clock, maxRows, maxBytes, batchMaxRecords, batchMaxLatencyMs });
  return { outbox, dispose: () => outbox.close() };
};

const sqlite: OutboxFactory = ({ clock, maxRows, maxBytes, batchMaxRecords, batchMaxLatencyMs }) => {
  const dir = tempDir('outbox-contract-');
  const config = storeSchema.parse({
    path: join(dir.path, 'outbox.db'),
    ...(maxRows ? { maxRows } : {}),
    ...(maxBytes ? { maxBytes } : {}),
    batch: {
      ...(batchMaxRecords ? { maxRecords: batchMaxRecords } : {}),
      ...(batchMaxLatencyMs !== undefined ? { maxLatencyMs: batchMaxLatencyMs } : {}),
    },
  });
  // The contract holds the group commit's timing (what is readable after which turn): the
  // WAL is fdatasynced before the port returns. Waiting for an fdatasync off the event
  // loop is tested in sqlite-outbox.test.ts ('wal-sync-off-loop-*').
  const outbox = SqliteOutbox.open(config, { clock, logger: silentLogger, fdatasync: fdatasyncSync });
  return {
    outbox,
    dispose: async () => {
      await outbox.close();
      dir.remove();
    },
  };
};

outboxContract('MemoryOutbox', memory);
outboxContract('SqliteOutbox', sqlite);
outboxGapContract('MemoryOutbox', memory);
outboxGapContract('SqliteOutbox', sqlite);
