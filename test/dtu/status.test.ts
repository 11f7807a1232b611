/**
 * Case dtu-status-lists-readme-fields (issue 11 item 5): DtuHub.status() lacked
 * `subsetMatches`, which the driver README lists. Every per-link field of the README's
 * status table must be in status().
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { dtuSchema } from '../../src/drivers/modbus/dtu/config.js';
import { DtuHub } from '../../src/drivers/modbus/dtu/hub.js';

function readmeLinkFields(): string[] {
  const text = readFileSync(join(process.cwd(), 'src/drivers/modbus/README.md'), 'utf8');
  const section = text.slice(text.indexOf('### Status (`DtuHub.status()[link]`'));
  const fields: string[] = [];
  for (const line of section.split('\n').slice(1)) {
    if (line.trim() === '' && fields.length > 0) break;
    if (!line.startsWith('| `')) continue;
    const first = line.split('|')[1] ?? '';
    for (const m of first.matchAll(/`([A-Za-z]+)(\[[a-z]+\])?`/g)) if (m[1]) fields.push(m[1]);
  }
  return fields;
}

it('dtu-status-lists-readme-fields: every per-link field the README lists is in status()', () => {
  const hub = new DtuHub(
    dtuSchema.parse({
      server: { host: '127.0.0.1', port: 0 },
      links: [{ name: 'north', mode: 'server', registration: { ascii: 'DTU-1' }, heartbeat: { hex: 'FE' } }],
    }),
    { clock: new ManualClock(), logger: silentLogger, random: () => 0.5 },
  );
  const fields = readmeLinkFields();
  assert.ok(fields.includes('subsetMatches') && fields.length > 20, fields.join(','));
  const status = hub.status().north;
  assert.ok(status);
  const missing = fields.filter((f) => !(f in status));
  assert.deepEqual(missing, []);
});
