/**
 * Case reconnect-maxms-docs-agree (issue 11 item 6): the docs gave two defaults for the
 * reconnect cap (30,000 vs 60,000: docs/config.md showed mqtt.reconnect as
 * `{"maxMs":30000}` and mqtt.reconnect.maxMs as 60000). Every documented default of a
 * reconnect cap must be the one the code applies.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { mqttSchema } from '../../src/config/sections/mqtt.js';
import { s7DeviceSchema } from '../../src/drivers/s7/config.js';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';

const read = (path: string): string => readFileSync(join(process.cwd(), path), 'utf8');

function documented(field: string): string | undefined {
  const row = read('docs/config.md')
    .split('\n')
    .find((l) => l.startsWith(`| \`${field}\` |`));
  return row?.split('|')[3]?.trim();
}

it('reconnect-maxms-docs-agree: generated reference, driver READMEs and code give the same reconnect defaults', () => {
  const mqtt = mqttSchema.parse({});
  assert.equal(documented('mqtt.reconnect.maxMs'), `\`${mqtt.reconnect.maxMs}\``);
  assert.equal(documented('mqtt.reconnect'), '`{}`', 'no second default in a prefault object');
  const s7 = s7DeviceSchema.parse({
    name: 'p',
    driver: 's7',
    connection: { host: 'h' },
    tags: [{ name: 't', address: 'DB1,INT0' }],
  });
  const modbus = modbusDeviceSchema.parse({
    name: 'm',
    driver: 'modbus',
    connection: { transport: 'tcp', host: 'h' },
    tags: [{ name: 't', function: 'holding', address: 0 }],
  });
  assert.equal(documented('devices[].reconnect.maxMs'), `\`${s7.reconnect.maxMs}\``);
  assert.equal(s7.reconnect.maxMs, modbus.reconnect.maxMs);
  assert.match(
    read('src/drivers/s7/README.md'),
    new RegExp(`\\| \`reconnect\` \\| \`\\{${s7.reconnect.initialMs}, ${s7.reconnect.maxMs},`),
  );
  assert.match(
    read('src/drivers/modbus/README.md'),
    new RegExp(`\\| \`reconnect.maxMs\` \\| ≥ 1 \\| \`${modbus.reconnect.maxMs}\``),
  );
  // No generated row shows an object default whose maxMs differs from its field's default.
  for (const line of read('docs/config.md').split('\n')) {
    const m = /^\| `([^`]+)` \|[^|]*\| `(\{.*"maxMs":(\d+).*\})`/.exec(line);
    if (m) assert.equal(documented(`${m[1]}.maxMs`), `\`${m[3]}\``, line);
  }
});
