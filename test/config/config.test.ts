import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkConfigText, formatPath, validateConfig } from '../../src/config/load.js';
import { configJsonSchemaText } from '../../src/config/json-schema.js';
import { createSecretResolver } from '../../src/config-kit/secrets.js';
import { EdgeError } from '../../src/core/errors.js';
import { tempDir } from '../helpers/tmp.js';

const root = process.cwd();

describe('firmware-config', () => {
  const files = readdirSync(join(root, 'firmware-config')).filter((f) => /\.ya?ml$/.test(f));
  it('has config files to check', () => assert.ok(files.length >= 3));
  for (const file of files) {
    it(`${file} validates`, () => {
      const result = checkConfigText(readFileSync(join(root, 'firmware-config', file), 'utf8'));
      assert.ok(result.ok, result.ok ? '' : JSON.stringify(result.issues, null, 2));
    });
  }
});

describe('broken configs name the offending path', () => {
  const dir = join(root, 'test/config/broken');
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<
    string,
    Array<[string, string]>
  >;
  for (const [file, wanted] of Object.entries(expected)) {
    it(file, () => {
      const result = checkConfigText(readFileSync(join(dir, file), 'utf8'));
      assert.equal(result.ok, false);
      if (result.ok) return;
      for (const [path, fragment] of wanted) {
        const hit = result.issues.find((i) => i.path === path && i.message.includes(fragment));
        assert.ok(
          hit,
          `expected an issue at ${path} containing "${fragment}", got:\n${JSON.stringify(result.issues, null, 2)}`,
        );
      }
    });
  }

  it('reports YAML syntax errors with line and column', () => {
    const result = checkConfigText('devices:\n  - name: [unclosed\n');
    assert.equal(result.ok, false);
    if (!result.ok) assert.match(result.issues[0]!.path, /^line \d+, column \d+$/);
  });

  it('shared-tag-anchor-300-devices: one anchored tag list used by 300 devices validates', () => {
    // yaml's default alias limit (100) refused this station, which the bench's generated
    // config hit at 110 devices: "Excessive alias count indicates a resource exhaustion attack".
    const devices = Array.from(
      { length: 300 },
      (_, i) =>
        `  - name: meter-${i}\n    driver: modbus\n    connection: { transport: tcp, host: 127.0.0.1, port: 502 }\n    tags: ${i === 0 ? '&tags\n      - { name: voltage, function: holding, address: 0, type: f32 }' : '*tags'}`,
    );
    const result = checkConfigText(
      `mqtt:\n  url: mqtt://127.0.0.1:1883\n  allowInsecure: true\ndevices:\n${devices.join('\n')}\n`,
    );
    assert.ok(result.ok, result.ok ? '' : JSON.stringify(result.issues.slice(0, 3)));
    assert.equal(result.config.devices.length, 300);
    assert.deepEqual(result.config.devices[299]!.tags, result.config.devices[0]!.tags);
  });

  it('an alias that names no anchor is an issue, not a throw', () => {
    const result = checkConfigText('devices: *nowhere\n');
    assert.equal(result.ok, false);
  });

  it('rejects duplicate YAML keys', () => {
    const result = checkConfigText('agent:\n  id: a\n  id: b\n');
    assert.equal(result.ok, false);
  });
});

describe('defaults', () => {
  it('an empty file is a valid config with safe defaults', () => {
    const result = validateConfig(undefined);
    assert.ok(result.ok);
    if (!result.ok) return;
    assert.equal(result.config.http.host, '127.0.0.1');
    assert.equal(result.config.http.port, 9464);
    assert.equal(result.config.store.synchronous.telemetry, 'full');
    assert.equal(result.config.store.synchronous.event, 'full');
    assert.equal(result.config.mqtt.url, undefined);
    assert.deepEqual(result.config.devices, []);
  });

  it('fills tag defaults beside the schema', () => {
    const result = validateConfig({
      devices: [
        {
          name: 'm',
          driver: 'modbus',
          connection: { transport: 'rtu', path: '/dev/x' },
          tags: [{ name: 't', function: 'holding', address: 3 }],
        },
      ],
    });
    assert.ok(result.ok);
    if (!result.ok) return;
    const device = result.config.devices[0]!;
    assert.ok(device.driver === 'modbus');
    assert.equal(device.unitId, 1);
    assert.equal(device.timeoutMs, 1000);
    assert.deepEqual(device.connection, {
      transport: 'rtu',
      path: '/dev/x',
      baudRate: 9600,
      dataBits: 8,
      parity: 'none',
      stopBits: 1,
      echoSuppression: false,
    });
    assert.deepEqual(device.tags[0], {
      name: 't',
      function: 'holding',
      address: 3,
      type: 'u16',
      wordOrder: 'big',
      byteOrder: 'big',
      scale: 1,
      offset: 0,
      writable: false,
    });
    assert.equal(result.config.commands.allowWrites, false, 'writes need an explicit allow');
    assert.equal(device.failover, undefined);
  });

  it('formats paths like devices[2].tags[5].address', () => {
    assert.equal(formatPath(['devices', 2, 'tags', 5, 'address']), 'devices[2].tags[5].address');
    assert.equal(formatPath([]), '(root)');
  });
});

describe('secrets', () => {
  it('resolves inline, env and file references', () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, 'pw');
      writeFileSync(file, 'from-file\n');
      const resolve = createSecretResolver({
        env: { PW: 'from-env' },
        readFile: (p) => readFileSync(p, 'utf8'),
      });
      assert.equal(resolve('inline', 'mqtt.password'), 'inline');
      assert.equal(resolve({ env: 'PW' }, 'mqtt.password'), 'from-env');
      assert.equal(resolve({ file }, 'mqtt.password'), 'from-file');
    } finally {
      dir.remove();
    }
  });

  it('names the field, never the value, when a secret is missing', () => {
    const resolve = createSecretResolver({
      env: {},
      readFile: () => {
        throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      },
    });
    assert.throws(
      () => resolve({ env: 'MISSING' }, 'mqtt.password'),
      (e: unknown) => {
        assert.ok(e instanceof EdgeError);
        assert.equal(e.code, 'EDGE_ERR_CONFIG_SECRET');
        assert.match(e.message, /^mqtt\.password: environment variable MISSING is not set$/);
        return true;
      },
    );
    assert.throws(
      () => resolve({ file: '/nope' }, 'mqtt.tls.key'),
      /mqtt\.tls\.key: cannot read secret file \/nope \(ENOENT\)/,
    );
  });
});

describe('JSON Schema for editors', () => {
  it('docs/config.schema.json is up to date with the zod schemas', () => {
    const committed = readFileSync(join(root, 'docs/config.schema.json'), 'utf8');
    assert.equal(
      committed,
      configJsonSchemaText(),
      'run npm run build to regenerate docs/config.schema.json',
    );
  });

  it('rejects unknown keys at every level', () => {
    const schema = JSON.parse(configJsonSchemaText()) as { additionalProperties?: unknown };
    assert.equal(schema.additionalProperties, false);
  });
});

describe('configuration reference', () => {
  it('docs/config.md is generated from the current schemas', async () => {
    const { configReference } = await import('../../src/config/reference.js');
    const { configJsonSchema } = await import('../../src/config/json-schema.js');
    assert.equal(
      readFileSync(join(root, 'docs/config.md'), 'utf8'),
      configReference(configJsonSchema()),
      'run npm run build',
    );
  });
});
