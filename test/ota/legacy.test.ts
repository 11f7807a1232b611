import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { otaSchema } from '../../src/config/sections/ota.js';
import { effectiveOtaConfig } from '../../src/ota/legacy.js';
import { tempDir } from '../helpers/tmp.js';

test('a box without the root state dir (updated over the air from before the split) keeps updating inline; one with it never falls back', (t) => {
  const tmp = tempDir('edge-ota-legacy-');
  t.after(() => tmp.remove());
  const ota = otaSchema.parse({ dataDir: join(tmp.path, 'data'), stateDir: join(tmp.path, 'state') });
  const old = effectiveOtaConfig(ota, 4242);
  assert.equal(old.legacy, true);
  assert.equal(old.config.mode, 'inline');
  assert.equal(old.config.stateDir, ota.dataDir, 'the old state.json is where the old layout kept it');
  assert.deepEqual(
    effectiveOtaConfig(ota, 0),
    { config: ota, legacy: false },
    "root never falls back: it would write into the agent's directory",
  );
  mkdirSync(ota.stateDir);
  assert.deepEqual(effectiveOtaConfig(ota, 4242), { config: ota, legacy: false });
  const inline = { ...ota, mode: 'inline' as const };
  assert.deepEqual(effectiveOtaConfig(inline, 4242), { config: inline, legacy: false });
});
