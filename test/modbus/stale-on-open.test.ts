/**
 * Bytes already on the serial line when the driver opens the port (a slave answering a
 * request sent before a restart, a previous process's leftovers, noise) must never be
 * taken for the answer to the first request. A real RTU slave (modbus-serial's server) on
 * a socat pty pair; a second writer on the slave's end of the pair puts a valid answer of
 * the first request's shape (unit 3, FC3, one register) but another register's value on
 * the line right as the port opens, before the first poll. Both framers: modbus-serial's
 * (plain RTU) and the agent's own (echo suppression). No good value may differ from the
 * slave's true registers.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import {
  LATE_ANSWER,
  lateAnswerDevice,
  registerValue,
  staleAnswer,
  startLateSlave,
  tallyLateAnswerPolls,
} from '../helpers/late-slave.js';
import { startPtyPair, type PtyPair } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';

const { baud: BAUD, timeoutMs: TIMEOUT_MS } = LATE_ANSWER;
const ADDRESSES = [0];
const POLLS = 5;

/** A valid answer of the first request's shape holding register 10's value (not register 0's). */
const STALE_FRAME = staleAnswer(3, 10);

let dir: ReturnType<typeof tempDir> | undefined;
let pty: PtyPair | undefined;

before(async () => {
  dir = tempDir('edge-modbus-stale-');
  pty = await startPtyPair(dir.path, 'stale');
});

after(async () => {
  await pty?.stop();
  dir?.remove();
});

async function staleOnOpen(t: TestContext, echoSuppression: boolean): Promise<void> {
  const slave = await startLateSlave(pty!.b, BAUD, () => 0);
  t.after(() => slave.close());
  // a second writer on the slave's end: what it writes arrives at the driver's port
  const noise = openSync(pty!.b, 'w');
  t.after(() => closeSync(noise));
  const fam = createModbusFamily({ clock: systemClock, logger: silentLogger, random: Math.random });
  t.after(() => fam.close());
  const d = fam.create(
    modbusDeviceSchema.parse(
      lateAnswerDevice(
        { transport: 'rtu', path: pty!.a, baudRate: BAUD, echoSuppression },
        ADDRESSES,
        TIMEOUT_MS,
      ),
    ),
  );
  d.init();
  await d.start();
  // the port is open (and flushed); the stale answer is on its way as the first poll starts
  writeSync(noise, STALE_FRAME);
  const first = await d.poll(['r0']);
  const { good, wrong, codes } = await tallyLateAnswerPolls(d, ADDRESSES, POLLS);
  const line = (d.status() as { line: Record<string, unknown> }).line;
  const firstValue = first[0]!.quality === 'good' ? first[0]!.value : first[0]!.code;
  t.diagnostic(
    `first ${String(firstValue)}, then good ${good}, wrong ${wrong}, bad ${JSON.stringify(codes)}, ` +
      `staleBytes ${String(line.staleBytes)}, fences ${String(line.fences)}`,
  );
  if (first[0]!.quality === 'good')
    assert.equal(
      first[0]!.value,
      registerValue(3, 0),
      'the first good value is the slave register, not the stale answer',
    );
  assert.equal(wrong, 0, `${wrong} of ${good} good values came from another register`);
  assert.ok(good >= POLLS - 1, `the polls after the first are good (${good})`);
  // what /metrics exports (edge_modbus_stale_bytes_total, edge_modbus_fences_total) is the line's own count
  const stats = fam.stats();
  const key = `rtu:${pty!.a}`;
  assert.equal(stats.staleBytes[key], line.staleBytes);
  assert.equal(stats.fences[key], line.fences);
  assert.ok((stats.fences[key] ?? 0) >= 1, 'the fresh line fenced the unit');
}

test('stale-frame-on-open-never-good (RTU, modbus-serial framer): an answer on the line at open is not the first poll’s', async (t) => {
  await staleOnOpen(t, false);
});

test('stale-frame-on-open-never-good (RTU, agent framer): an answer on the line at open is not the first poll’s', async (t) => {
  await staleOnOpen(t, true);
});
