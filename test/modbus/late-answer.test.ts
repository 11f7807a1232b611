/**
 * Issue 11, item 1 ("late-answer-never-a-good-value"): a real RTU slave on a pty pair
 * answers a random share of the requests after the client's timeout. Every register
 * encodes its own address, and every read has the same shape (FC3, one register) so a
 * late answer would fit the next request. Delays reach 3 × the timeout, beyond the first
 * quiet horizon (2 ×): the confirmation of the next answer catches those. No good value
 * may come from another register.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import { seededRandom } from '../../src/tools/dtu-sim/prng.js';
import {
  blockEventLoop,
  LATE_ANSWER,
  lateAnswerDevice,
  startLateSlave,
  tallyLateAnswerPolls,
} from '../helpers/late-slave.js';
import { startPtyPair, type PtyPair } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';

const { baud: BAUD, timeoutMs: TIMEOUT_MS, addresses: ADDRESSES, polls: POLLS } = LATE_ANSWER;

let dir: ReturnType<typeof tempDir> | undefined;
let pty: PtyPair | undefined;

before(async () => {
  dir = tempDir('edge-modbus-late-');
  pty = await startPtyPair(dir.path, 'late');
});

after(async () => {
  await pty?.stop();
  dir?.remove();
});

/** The late slave (20 % of answers 20–320 ms past the timeout) and a started device reading it. */
async function lateRtuDevice(t: TestContext, seed: number) {
  const random = seededRandom(seed);
  const slave = await startLateSlave(pty!.b, BAUD, () =>
    random() < 0.2 ? TIMEOUT_MS + 20 + Math.floor(random() * 300) : 0,
  );
  t.after(() => slave.close());
  const fam = createModbusFamily({ clock: systemClock, logger: silentLogger, random: Math.random });
  t.after(() => fam.close());
  const d = fam.create(
    modbusDeviceSchema.parse(
      lateAnswerDevice({ transport: 'rtu', path: pty!.a, baudRate: BAUD }, ADDRESSES, TIMEOUT_MS),
    ),
  );
  d.init();
  await d.start();
  return { slave, d };
}

test('late-answer-never-a-good-value (RTU): random answers past the timeout give zero wrong values', async (t) => {
  // 20 % of the answers come 20–320 ms after the timeout; the rest at once
  const { slave, d } = await lateRtuDevice(t, 11);
  const { good, wrong, codes, lateAnswers } = await tallyLateAnswerPolls(d, ADDRESSES, POLLS);
  t.diagnostic(
    `good ${good}, wrong ${wrong}, bad ${JSON.stringify(codes)}, slave delayed ${slave.delayed()}, ` +
      `line lateAnswers ${lateAnswers}`,
  );
  assert.ok(slave.delayed() > 0, 'the slave answered some requests late');
  assert.ok(good > POLLS, `most values are good (${good})`);
  assert.equal(wrong, 0, `${wrong} of ${good} good values came from another register`);
  assert.equal(codes.EDGE_ERR_MODBUS_CRC ?? 0, 0, 'late bytes are not reported as CRC errors');
  assert.ok((lateAnswers ?? 0) > 0, 'late answers are counted');
  assert.ok((codes.EDGE_ERR_MODBUS_LATE_ANSWER ?? 0) > 0, 'late answers carry their own code');
});

test('late-answer-never-a-good-value-stalled (RTU): the same with event-loop stalls of 10–160 ms give zero wrong values', async (t) => {
  const { slave, d } = await lateRtuDevice(t, 12);
  const blocker = blockEventLoop(seededRandom(13));
  t.after(() => blocker.stop());
  const { good, wrong, codes, lateAnswers } = await tallyLateAnswerPolls(d, ADDRESSES, POLLS / 2);
  blocker.stop();
  const stalls = blocker.stalls();
  t.diagnostic(
    `good ${good}, wrong ${wrong}, bad ${JSON.stringify(codes)}, slave delayed ${slave.delayed()}, ` +
      `line lateAnswers ${lateAnswers}, stalls ${stalls.count} (${stalls.ms} ms)`,
  );
  assert.ok(stalls.count > 5, 'the event loop stalled');
  assert.ok(good > 0, 'some values are good');
  assert.equal(wrong, 0, `${wrong} of ${good} good values came from another register`);
});
