/**
 * Named config cases in src/drivers/failover/testcases/<case>/: config.yaml (a whole
 * config) and expected.json, either {"valid": true} or {"issues": [[path, fragment], …]}.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkConfigText } from '../../src/config/load.js';

const root = join(process.cwd(), 'src/drivers/failover/testcases');
const cases = existsSync(root)
  ? readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort()
  : [];

test('failover config cases exist', () => assert.ok(cases.length >= 4, `found ${cases.length} in ${root}`));

for (const name of cases) {
  test(`config case: ${name}`, () => {
    const result = checkConfigText(readFileSync(join(root, name, 'config.yaml'), 'utf8'));
    const expected = JSON.parse(readFileSync(join(root, name, 'expected.json'), 'utf8')) as {
      valid?: true;
      issues?: Array<[string, string]>;
    };
    if (expected.valid) return assert.ok(result.ok, result.ok ? '' : JSON.stringify(result.issues, null, 2));
    assert.equal(result.ok, false);
    if (result.ok) return;
    for (const [path, fragment] of expected.issues ?? []) {
      const hit = result.issues.find((i) => i.path === path && i.message.includes(fragment));
      assert.ok(
        hit,
        `expected an issue at ${path} containing "${fragment}", got:\n${JSON.stringify(result.issues, null, 2)}`,
      );
    }
  });
}
