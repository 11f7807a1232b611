/**
 * Fixture cases in src/drivers/modbus/testcases/<case>/: config.yaml (one device, or
 * `devices: [...]`) and expected.json with one of
 *   plan        — the requests for polling every tag of the (first) device;
 *   initError   — init() of the named device throws this code naming this field;
 *   schemaError — the config fails the schema at this path;
 *   values      — decoded values (or {bad: code}) with `registers` on a fake device
 *                 (`illegalFrom`, `holes`: addresses it refuses), and `requestsPerPoll`:
 *                 the same values on later polls, each with this many requests.
 * Read from the source tree (process.cwd() is the repo root when tests run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { EdgeError } from '../../src/core/errors.js';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import { planRequests } from '../../src/drivers/modbus/plan.js';
import { FakeTransport, type FakeSlave } from './fake-transport.js';

const root = join(process.cwd(), 'src/drivers/modbus/testcases');
const cases = existsSync(root)
  ? readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort()
  : [];

/** expected.json: one of schemaError, initError, plan, values (see the header). */
interface Expected {
  readonly schemaError?: { readonly path: string };
  readonly initError?: { readonly device: string; readonly code: string; readonly field: string };
  readonly plan?: unknown;
  readonly values?: unknown;
  readonly illegalFrom?: number;
  readonly registers?: Record<string, Record<string, unknown[]>>;
  readonly holes?: FakeSlave['holes'];
  readonly requestsPerPoll?: readonly number[];
}

test('fixture cases exist', () => {
  assert.ok(cases.length >= 5, `found ${cases.length} cases in ${root}`);
});

for (const name of cases) {
  test(`fixture: ${name}`, async () => {
    const raw = parseYaml(readFileSync(join(root, name, 'config.yaml'), 'utf8')) as Record<string, unknown>;
    const expected = JSON.parse(readFileSync(join(root, name, 'expected.json'), 'utf8')) as Expected;
    const rawDevices = (Array.isArray(raw.devices) ? raw.devices : [raw]) as unknown[];

    const { schemaError } = expected;
    if (schemaError) {
      const result = modbusDeviceSchema.safeParse(rawDevices[0]);
      assert.equal(result.success, false);
      assert.ok(
        result.error.issues.some((i) => i.path.join('.') === schemaError.path),
        JSON.stringify(result.error.issues),
      );
      return;
    }
    const configs = rawDevices.map((d) => modbusDeviceSchema.parse(d));
    const clock = new ManualClock();
    let fake: FakeTransport | undefined;
    const family = createModbusFamily(
      { clock, logger: silentLogger, random: () => 0.5 },
      { transportFactory: () => (fake = new FakeTransport(clock)) },
    );
    try {
      const devices = configs.map((c) => family.create(c));
      if (expected.initError) {
        const { device, code, field } = expected.initError;
        for (const d of devices) {
          if (d.device === device) {
            assert.throws(
              () => d.init(),
              (e: EdgeError) => e.code === code && e.context.field === field,
            );
            return;
          }
          d.init();
        }
        assert.fail(`device ${device} not in the case`);
      }
      for (const d of devices) d.init();
      const cfg = configs[0]!;
      if (expected.plan) {
        const plan = planRequests(cfg.tags, cfg).map((r) => ({
          function: r.function,
          address: r.address,
          length: r.length,
          tags: r.tags.map((t) => t.tag.name),
        }));
        assert.deepEqual(plan, expected.plan);
      }
      if (expected.values) {
        const slave: FakeSlave = { illegalFrom: expected.illegalFrom, holes: expected.holes };
        for (const [area, blocks] of Object.entries(expected.registers ?? {}) as [
          keyof FakeSlave,
          Record<string, unknown[]>,
        ][]) {
          const map: Record<number, unknown> = {};
          for (const [start, vals] of Object.entries(blocks))
            vals.forEach((v, i) => (map[Number(start) + i] = v));
          (slave as Record<string, unknown>)[area] = map;
        }
        const d = devices[0]!;
        fake!.slaves.set(cfg.unitId, slave);
        const start = d.start();
        await clock.advance(10);
        await start;
        const names = cfg.tags.map((t) => t.name);
        const poll = d.poll(names);
        await clock.advance(1000);
        const values = await poll;
        const got = Object.fromEntries(
          values.map((v) => [v.tag, v.quality === 'good' ? v.value : { bad: v.code }]),
        );
        assert.deepEqual(got, expected.values);
        if (expected.requestsPerPoll) {
          // Later polls: what the device learnt keeps every request answerable.
          for (const want of expected.requestsPerPoll) {
            const before = fake!.sent.length;
            const next = d.poll(names);
            await clock.advance(1000);
            const again = await next;
            assert.deepEqual(
              Object.fromEntries(again.map((v) => [v.tag, v.quality === 'good' ? v.value : { bad: v.code }])),
              expected.values,
            );
            assert.equal(fake!.sent.length - before, want, JSON.stringify(fake!.sent.slice(before)));
          }
        }
      }
    } finally {
      await family.close();
    }
  });
}
