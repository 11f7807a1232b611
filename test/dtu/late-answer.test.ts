/**
 * Issue 11, item 1 through a DTU ("late-answer-never-a-good-value-dtu"): the DTU
 * simulator delays a random share of the responses past the agent's timeout and glues
 * some to the next bytes; the RTU slave behind it encodes each register's address in its
 * value. No good value may come from another register.
 */
import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import {
  blockEventLoop,
  LATE_ANSWER,
  lateAnswerDevice,
  startLateSlave,
  tallyLateAnswerPolls,
  type LateSlave,
} from '../helpers/late-slave.js';
import { startPtyPair, type PtyPair } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { seededRandom } from '../../src/tools/dtu-sim/prng.js';
import { startDtuLink } from './helpers.js';

const { baud: BAUD, timeoutMs: TIMEOUT_MS, addresses: ADDRESSES, polls: POLLS } = LATE_ANSWER;

let dir: ReturnType<typeof tempDir> | undefined;
let pty: PtyPair | undefined;
let slave: LateSlave | undefined;

before(async () => {
  dir = tempDir('edge-dtu-late-');
  pty = await startPtyPair(dir.path, 'dtulate');
  slave = await startLateSlave(pty.b, BAUD, () => 0);
});

after(async () => {
  await slave?.close();
  await pty?.stop();
  dir?.remove();
});

async function lateThroughDtu(t: TestContext, name: string, seed: number, stalled: boolean): Promise<void> {
  const { hub, fam, sim } = await startDtuLink(
    t,
    {
      server: { host: '127.0.0.1', port: 0 },
      links: [{ name, mode: 'server', registration: { ascii: `DTU-${name}` }, missedHeartbeats: 0 }],
    },
    {
      serial: { path: pty!.a, baudRate: BAUD },
      registration: `ascii:DTU-${name}`,
      heartbeat: 'none',
      faults: {
        delayRate: { probability: 0.2 },
        delayMs: TIMEOUT_MS + 20,
        delayMaxMs: TIMEOUT_MS + 120,
        glue: { probability: 0.1 },
        glueMaxHoldMs: 40,
      },
      seed,
    },
  );
  await waitFor('DTU registered', () => hub.status()[name]?.up);
  const d = fam.create(
    modbusDeviceSchema.parse(lateAnswerDevice({ transport: 'dtu', dtu: name }, ADDRESSES, TIMEOUT_MS)),
  );
  d.init();
  await d.start();
  const blocker = stalled ? blockEventLoop(seededRandom(seed + 1)) : undefined;
  t.after(() => blocker?.stop());
  const { good, wrong, codes, lateAnswers } = await tallyLateAnswerPolls(
    d,
    ADDRESSES,
    stalled ? POLLS / 2 : POLLS,
  );
  blocker?.stop();
  const f = sim.stats().faults;
  const stalls = blocker?.stalls();
  t.diagnostic(
    `good ${good}, wrong ${wrong}, bad ${JSON.stringify(codes)}, delayed ${f.delay}, glued ${f.glue}, ` +
      `line lateAnswers ${lateAnswers}` +
      (stalls ? `, stalls ${stalls.count} (${stalls.ms} ms)` : ''),
  );
  assert.ok(f.delay > 0, 'the DTU delayed some answers');
  assert.equal(wrong, 0, `${wrong} of ${good} good values came from another register`);
  if (stalls) {
    assert.ok(stalls.count > 5, 'the event loop stalled');
    assert.ok(good > 0, 'some values are good');
    return;
  }
  assert.ok(good > POLLS, `most values are good (${good})`);
  assert.equal(codes.EDGE_ERR_MODBUS_CRC ?? 0, 0, 'late bytes are not reported as CRC errors');
  assert.ok((lateAnswers ?? 0) > 0, 'late answers are counted');
}

test('late-answer-never-a-good-value-dtu: random late and glued answers through a DTU give zero wrong values', async (t) => {
  await lateThroughDtu(t, 'late', 11, false);
});

test('late-answer-never-a-good-value-dtu-stalled: the same with event-loop stalls of 10–160 ms give zero wrong values', async (t) => {
  await lateThroughDtu(t, 'stalled', 21, true);
});
