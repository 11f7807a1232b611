/** S7 tags with min/max: a command outside the range is refused before anything is sent (issue 12 item 6). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { EdgeError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/ports.js';
import { s7DeviceSchema } from '../../src/drivers/s7/config.js';
import { S7Device } from '../../src/drivers/s7/device.js';

const config = (tags: unknown[]) =>
  s7DeviceSchema.safeParse({ name: 'plc', driver: 's7', connection: { host: '127.0.0.1' }, tags });

describe('S7 write range', () => {
  it('refuses out-of-range values (scalar and array element) with EDGE_ERR_CMD_BAD_VALUE before any I/O', async () => {
    const parsed = config([
      { name: 'sp', address: 'DB1,REAL0', writable: true, min: 0, max: 80 },
      { name: 'arr', address: 'DB1,INT10.3', writable: true, max: 100 },
    ]);
    assert.ok(parsed.success);
    const d = new S7Device(parsed.data, { clock: systemClock, logger: silentLogger, random: () => 0.5 });
    d.init(); // not started: a write that passed the checks would fail as disconnected instead
    const badValue = (pattern: RegExp) => (e: unknown) =>
      e instanceof EdgeError && e.code === 'EDGE_ERR_CMD_BAD_VALUE' && pattern.test(e.message);
    await assert.rejects(d.write('sp', 80.5), badValue(/above the configured max 80/));
    await assert.rejects(d.write('sp', -1), badValue(/below the configured min 0/));
    await assert.rejects(d.write('arr', [1, 101, 3]), badValue(/101 is above/));
    await assert.rejects(d.write('arr.1', 101), badValue(/101 is above/));
    await assert.rejects(
      d.write('sp', 42),
      (e: unknown) => e instanceof EdgeError && e.code === 'EDGE_ERR_S7_DISCONNECTED',
    );
  });

  it('refuses min/max on read-only and boolean tags in the config', () => {
    const issues = (tag: Record<string, unknown>) =>
      config([tag]).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    assert.deepEqual(issues({ name: 'a', address: 'DB1,INT0', max: 5 }), [
      'tags.0.max: min/max bound command writes: the tag must be writable',
    ]);
    assert.deepEqual(issues({ name: 'b', address: 'DB1,X0.1', writable: true, min: 0 }), [
      'tags.0.min: min/max apply to numeric tags only',
    ]);
  });
});
