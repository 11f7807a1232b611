/**
 * A DTU that delivers bytes right after it registers (a slave's answer to a request sent
 * before the link dropped, the DTU's own buffer) must not have them taken for the answer
 * to the first request. The DTU simulator bridges the hub to a real RTU slave on a socat
 * pty pair; a second writer on the slave's end puts a valid answer of the first request's
 * shape (unit 3, FC3, one register) but another register's value on the line right after
 * the registration, as the first poll starts. No good value may differ from the slave's
 * true registers.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import {
  LATE_ANSWER,
  lateAnswerDevice,
  registerValue,
  staleAnswer,
  startLateSlave,
  tallyLateAnswerPolls,
  type LateSlave,
} from '../helpers/late-slave.js';
import { startPtyPair, type PtyPair } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { startDtuLink } from './helpers.js';

const { baud: BAUD, timeoutMs: TIMEOUT_MS } = LATE_ANSWER;
const POLLS = 5;
/** A valid answer of the first request's shape holding register 10's value (not register 0's). */
const STALE_FRAME = staleAnswer(3, 10);

let dir: ReturnType<typeof tempDir> | undefined;
let pty: PtyPair | undefined;
let slave: LateSlave | undefined;

before(async () => {
  dir = tempDir('edge-dtu-stale-');
  pty = await startPtyPair(dir.path, 'dtustale');
  slave = await startLateSlave(pty.b, BAUD, () => 0);
});

after(async () => {
  await slave?.close();
  await pty?.stop();
  dir?.remove();
});

test('stale-frame-after-registration-never-good (DTU): an answer the DTU delivers before the first request is not its answer', async (t) => {
  const name = 'stale';
  const { hub, fam } = await startDtuLink(
    t,
    {
      server: { host: '127.0.0.1', port: 0 },
      links: [{ name, mode: 'server', registration: { ascii: `DTU-${name}` }, missedHeartbeats: 0 }],
    },
    { serial: { path: pty!.a, baudRate: BAUD }, registration: `ascii:DTU-${name}`, heartbeat: 'none' },
  );
  const noise = openSync(pty!.b, 'w');
  t.after(() => closeSync(noise));
  const d = fam.create(
    modbusDeviceSchema.parse(lateAnswerDevice({ transport: 'dtu', dtu: name }, [0], TIMEOUT_MS)),
  );
  d.init();
  await d.start();
  await waitFor('DTU registered', () => hub.status()[name]?.up);
  // the DTU forwards what the line holds right after it registered, as the first poll starts
  writeSync(noise, STALE_FRAME);
  const first = await d.poll(['r0']);
  const { good, wrong, codes } = await tallyLateAnswerPolls(d, [0], POLLS);
  const line = (d.status() as { line: Record<string, unknown> }).line;
  const v = first[0]!;
  t.diagnostic(
    `first ${String(v.quality === 'good' ? v.value : v.code)}, then good ${good}, wrong ${wrong}, ` +
      `bad ${JSON.stringify(codes)}, staleBytes ${String(line.staleBytes)}, fences ${String(line.fences)}`,
  );
  if (v.quality === 'good')
    assert.equal(
      v.value,
      registerValue(3, 0),
      'the first good value is the slave register, not the stale answer',
    );
  assert.equal(wrong, 0, `${wrong} of ${good} good values came from another register`);
  assert.ok(good >= POLLS - 1, `the polls after the first are good (${good})`);
});
