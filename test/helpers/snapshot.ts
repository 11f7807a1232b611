/** Agent snapshot inputs for tests: an agent with nothing running, plus the parts a test sets. */
import type { SnapshotParts } from '../../src/observability/agent-snapshot.js';

export function snapshotParts(parts: Partial<SnapshotParts> = {}): SnapshotParts {
  return {
    devices: [],
    store: undefined,
    forwarder: undefined,
    forwarderEnabled: false,
    memory: undefined,
    drivers: {},
    commandsRefused: {},
    ...parts,
  };
}
