/**
 * Memory settings the measured figures depend on (`npm run bench -- mem`): the service unit
 * caps glibc's malloc arenas (6 MB RSS on a 100 × 50 station) and an operator's environment
 * file can still override it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const UNIT = new URL('../../../deploy/edge-agent.service', import.meta.url);

test('edge-agent.service caps the malloc arenas, before the environment file that may override it', () => {
  const lines = readFileSync(UNIT, 'utf8').split('\n');
  const arenas = lines.indexOf('Environment=MALLOC_ARENA_MAX=2');
  const file = lines.findIndex((l) => l.startsWith('EnvironmentFile='));
  assert.ok(arenas >= 0, 'Environment=MALLOC_ARENA_MAX=2 missing');
  assert.ok(file > arenas, 'the EnvironmentFile must come after, so it can override the cap');
});
