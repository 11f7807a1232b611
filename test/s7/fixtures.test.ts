/**
 * Fixture cases in src/drivers/s7/testcases/<case>/: config.yaml (one device) and
 * expected.json with one of
 *   schemaError — the config fails the schema at this path;
 *   plan        — the requests (items: area code, db, start, length, tags) for all tags;
 *   values      — decoded values (or {bad: code}) when a scripted PLC answers each read
 *                 request with `response` (or `responses` in order): S7 param + data hex.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { s7DeviceSchema } from '../../src/drivers/s7/config.js';
import { S7Device } from '../../src/drivers/s7/device.js';
import { elementAddress, parseS7Address } from '../../src/drivers/s7/address.js';
import { planRequests } from '../../src/drivers/s7/plan.js';
import { ackFrame, FakePlc, withRef } from './fake-plc.js';

const root = join(process.cwd(), 'src/drivers/s7/testcases');
const cases = existsSync(root)
  ? readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort()
  : [];

test('s7 fixture cases exist', () => assert.ok(cases.length >= 4, `found ${cases.length} in ${root}`));

interface Answer {
  readonly param: string;
  readonly data: string;
}

/** expected.json: schemaError, or plan and/or values with the PLC's answers. */
interface Expected {
  readonly schemaError?: { readonly path: string };
  readonly plan?: unknown;
  readonly values?: unknown;
  readonly responses?: Answer[];
  readonly response?: Answer;
}

for (const name of cases) {
  test(`s7 fixture: ${name}`, async (t) => {
    const raw = parseYaml(readFileSync(join(root, name, 'config.yaml'), 'utf8')) as Record<string, unknown>;
    const expected = JSON.parse(readFileSync(join(root, name, 'expected.json'), 'utf8')) as Expected;
    const { schemaError } = expected;
    if (schemaError) {
      const result = s7DeviceSchema.safeParse(raw);
      assert.equal(result.success, false);
      assert.ok(
        result.error.issues.some((i) => i.path.join('.') === schemaError.path),
        JSON.stringify(result.error.issues),
      );
      return;
    }
    const config = s7DeviceSchema.parse(raw);
    if (expected.plan) {
      const points = config.tags.map((tag) => {
        const parsed = parseS7Address(tag.address);
        assert.ok(parsed.ok);
        return {
          name: tag.name,
          tag: tag.name,
          address: elementAddress(parsed.address, 0),
          scale: 1,
          offset: 0,
          intervalMs: 1000,
        };
      });
      const limits = { pduSize: config.pduSize, maxItems: config.maxItemsPerRequest, maxGap: config.maxGap };
      const plan = planRequests(points, limits).map((r) => ({
        items: r.items.map((i) => ({
          area: i.spec.areaCode,
          db: i.spec.db,
          start: i.spec.start,
          length: i.spec.length,
          tags: i.parts.map((p) => p.point.name),
        })),
      }));
      assert.deepEqual(plan, expected.plan);
    }
    if (expected.values) {
      const answers: Answer[] = expected.responses ?? (expected.response ? [expected.response] : []);
      let next = 0;
      const plc = await FakePlc.start({
        request: (frame) => {
          const answer = answers[Math.min(next++, answers.length - 1)]!;
          return withRef(ackFrame(answer.param, answer.data), frame);
        },
      });
      const device = new S7Device(
        { ...config, connection: { ...config.connection, port: plc.port } },
        { clock: systemClock, logger: silentLogger, random: () => 0.5 },
      );
      t.after(async () => {
        await device.stop();
        await plc.close();
      });
      await device.start();
      const values = await device.poll(config.tags.map((x) => x.name));
      const got = Object.fromEntries(
        values.map((v) => [v.tag, v.quality === 'good' ? v.value : { bad: v.code }]),
      );
      assert.deepEqual(got, expected.values);
      assert.equal(device.status().reconnects, 0);
    }
  });
}
