/**
 * Hot reload of one DTU link in the hub (reload/dtu-live.test.ts runs the whole path on
 * the CLI): a replaced client link dials its new address and its old dialler is gone for
 * good (it redialled the old address after its backoff before), and the family refuses to
 * swap a link that a device's line still reads through.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { dtuSchema, type DtuLinkConfig } from '../../src/drivers/modbus/dtu/config.js';
import { DtuHub } from '../../src/drivers/modbus/dtu/hub.js';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import { waitFor } from '../helpers/wait.js';

interface Counting {
  readonly server: Server;
  readonly port: number;
  readonly accepted: Socket[];
}

async function counting(): Promise<Counting> {
  const accepted: Socket[] = [];
  const server = createServer((s) => {
    s.on('error', () => undefined);
    accepted.push(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  return { server, port: typeof a === 'object' && a ? a.port : 0, accepted };
}

const clientLink = (port: number, connectTimeoutMs = 5000): DtuLinkConfig =>
  dtuSchema.parse({ links: [{ name: 'c', mode: 'client', host: '127.0.0.1', port, connectTimeoutMs }] })
    .links[0]!;

test('a replaced client link dials its new address; the old one is never dialled again', async (t) => {
  const [old, next] = [await counting(), await counting()];
  t.after(async () => {
    for (const c of [old, next]) {
      for (const s of c.accepted) s.destroy();
      await new Promise((r) => c.server.close(r));
    }
  });
  const clock = new ManualClock();
  const deps = { clock, logger: silentLogger, random: () => 0.5 };
  const hub = new DtuHub(dtuSchema.parse({ links: [clientLink(old.port)] }), deps);
  t.after(() => hub.stop());
  await hub.start();
  await waitFor('the link dials its first address', () => hub.status().c?.up === true);

  const fam = createModbusFamily(deps, { dtu: hub });
  t.after(() => fam.close());
  fam
    .create(
      modbusDeviceSchema.parse({
        name: 'm',
        driver: 'modbus',
        connection: { transport: 'dtu', dtu: 'c' },
        tags: [{ name: 't', function: 'holding', address: 0 }],
      }),
    )
    .init();
  await assert.rejects(fam.upsertLink(clientLink(next.port)), /still has devices/);
  assert.equal(next.accepted.length, 0, 'refused: nothing dialled');

  await hub.upsertLink(clientLink(next.port, 6000));
  await waitFor(
    'the new link is up on the new address',
    () => next.accepted.length === 1 && hub.status().c?.up,
  );
  const closed = old.accepted[0]!;
  if (!closed.destroyed) await new Promise((r) => closed.once('close', r));
  // Far past any backoff: a dialler left behind by the old link would fire now.
  await clock.advance(10 * 60_000);
  const probe = connect(old.port, '127.0.0.1');
  t.after(() => probe.destroy());
  await new Promise((r) => probe.once('connect', r));
  await waitFor('the probe is accepted', () => old.accepted.some((s) => s.remotePort === probe.localPort));
  // Accepted in order: a redial sent before the probe would come before it.
  assert.equal(old.accepted.length, 2, 'the old address saw its first link and the probe only');
});
