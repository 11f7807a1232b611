/**
 * Issue 11, item 1 through a DTU ("late-answer-never-a-good-value-dtu"): the DTU
 * simulator delays a random share of the responses past the agent's timeout and glues
 * some to the next bytes; the RTU slave behind it encodes each register's address in its
 * value. No good value may come from another register.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import {
  LATE_ANSWER,
  lateAnswerDevice,
  startLateSlave,
  tallyLateAnswerPolls,
  type LateSlave,
} from '../helpers/late-slave.js';
import { startPtyPair, type PtyPair } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
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

test('late-answer-never-a-good-value-dtu: random late and glued answers through a DTU give zero wrong values', async (t) => {
  const { hub, fam, sim } = await startDtuLink(
    t,
    {
      server: { host: '127.0.0.1', port: 0 },
      links: [{ name: 'late', mode: 'server', registration: { ascii: 'DTU-LATE' }, missedHeartbeats: 0 }],
    },
    {
      serial: { path: pty!.a, baudRate: BAUD },
      registration: 'ascii:DTU-LATE',
      heartbeat: 'none',
      faults: {
        delayRate: { probability: 0.2 },
        delayMs: TIMEOUT_MS + 20,
        delayMaxMs: TIMEOUT_MS + 120,
        glue: { probability: 0.1 },
        glueMaxHoldMs: 40,
      },
      seed: 11,
    },
  );
  await waitFor('DTU registered', () => hub.status().late?.up);
  const d = fam.create(
    modbusDeviceSchema.parse(lateAnswerDevice({ transport: 'dtu', dtu: 'late' }, ADDRESSES, TIMEOUT_MS)),
  );
  d.init();
  await d.start();
  const { good, wrong, codes, lateAnswers } = await tallyLateAnswerPolls(d, ADDRESSES, POLLS);
  const f = sim.stats().faults;
  t.diagnostic(
    `good ${good}, wrong ${wrong}, bad ${JSON.stringify(codes)}, delayed ${f.delay}, glued ${f.glue}, ` +
      `line lateAnswers ${lateAnswers}`,
  );
  assert.ok(f.delay > 0, 'the DTU delayed some answers');
  assert.ok(good > POLLS, `most values are good (${good})`);
  assert.equal(wrong, 0, `${wrong} of ${good} good values came from another register`);
  assert.equal(codes.EDGE_ERR_MODBUS_CRC ?? 0, 0, 'late bytes are not reported as CRC errors');
  assert.ok((lateAnswers ?? 0) > 0, 'late answers are counted');
});
