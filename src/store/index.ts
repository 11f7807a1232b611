export {
  SqliteOutbox,
  STORE_EVENT_DEVICE,
  type SqliteOutboxDeps,
  type RecoveryReport,
} from './sqlite-outbox.js';
export { MemoryOutbox, type MemoryOutboxOptions } from './memory-outbox.js';
export type { Outbox, OutboxStats } from './outbox.js';
export { SCHEMA_VERSION } from './schema.js';
