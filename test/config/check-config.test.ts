/**
 * check-config tells the truth: cases in test/config/check-config/<case>/ (config.yaml and
 * expected.json: exit code, line fragments, number of warnings) run through the command
 * itself, which builds the devices with the same function `run` starts them with.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkConfigCommand } from '../../src/cli/check-config.js';

const root = join(process.cwd(), 'test/config/check-config');
const cases = existsSync(root) ? readdirSync(root).sort() : [];

interface Expected {
  readonly exit: number;
  readonly lines: readonly string[];
  readonly warnings: number;
  /** false: secrets are resolved too (check-config without --schema-only). Default true. */
  readonly schemaOnly?: boolean;
}

test('check-config cases exist', () => {
  assert.ok(cases.length >= 4, `found ${cases.length} in ${root}`);
});

for (const name of cases) {
  test(`check-config case: ${name}`, async () => {
    const expected = JSON.parse(readFileSync(join(root, name, 'expected.json'), 'utf8')) as Expected;
    const lines: string[] = [];
    const exit = await checkConfigCommand(
      join(root, name, 'config.yaml'),
      { schemaOnly: expected.schemaOnly ?? true },
      (l) => lines.push(l),
    );
    const shown = lines.join('\n');
    assert.equal(exit, expected.exit, shown);
    for (const fragment of expected.lines) {
      assert.ok(
        lines.some((l) => l.includes(fragment)),
        `no line contains ${fragment}:\n${shown}`,
      );
    }
    assert.equal(lines.filter((l) => l.includes('warning:')).length, expected.warnings, shown);
  });
}
