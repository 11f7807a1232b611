/**
 * Sparkplug through a real mosquitto, decoded by protoc: the primary host's STATE gates the
 * drain (records stay in the outbox while it is offline, then go out as historical after a
 * new NBIRTH), and DCMD writes run through the command router with its allow rules.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { commandsSchema } from '../../src/config/sections/commands.js';
import { systemClock } from '../../src/core/clock.js';
import { CommandRouter } from '../../src/core/command-router.js';
import type { OutboxSink, WriteValue } from '../../src/core/ports.js';
import { FakeDriver } from '../core/fake-driver.js';
import { captureLogger } from '../helpers/logger.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { FakeOutbox, telemetry } from '../mqtt/fake-outbox.js';
import { EDGE, GROUP, Subscriber, bdSeqOf, edgeNode, protocEncode, protocMissing } from './helpers.js';

const skip = protocMissing();
let broker: MosquittoBroker;
before(async () => {
  if (!skip) broker = await startMosquitto();
});
after(async () => {
  await broker?.close();
});

const HOST = 'scada1';

async function hostState(sub: Subscriber, online: boolean, timestamp: number): Promise<void> {
  await sub.client.publishAsync(`spBv1.0/STATE/${HOST}`, JSON.stringify({ online, timestamp }), {
    qos: 1,
    retain: true,
  });
}

/** Lets a commit's queued pump run (queueMicrotask), so a publish it would make has been made. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test(
  'while the primary host is offline records stay in the outbox, then go out as historical',
  { skip },
  async (t) => {
    const sub = await Subscriber.start(broker.url);
    const outbox = new FakeOutbox();
    const node = edgeNode(broker.url, outbox, { primaryHostId: HOST });
    t.after(async () => {
      await node.forwarder.stop();
      await hostState(sub, false, Date.now()); // clear for other tests: an offline retained STATE
      await sub.close();
    });
    outbox.append([telemetry('d1', 1_700_000_000_000, 1)]);
    await node.forwarder.start();
    await waitFor('connected, waiting for the host', () => node.forwarder.stats().connected);
    await settle();
    assert.equal(sub.of('NBIRTH').length, 0, 'no NBIRTH before the host is online');
    assert.equal(outbox.remaining().length, 1);

    const t0 = Date.now();
    await hostState(sub, true, t0);
    await sub.waitFor('DDATA after STATE online', (s) => s.of('DDATA', 'd1').length === 1);
    assert.deepEqual(
      sub.messages.filter((m) => m.type !== 'json').map((m) => m.type),
      ['NBIRTH', 'DBIRTH', 'DBIRTH', 'DDATA'],
    );
    outbox.append([telemetry('d1', 1_700_000_001_000, 2)]);
    await sub.waitFor('live DDATA', (s) => s.of('DDATA', 'd1').length === 2);
    assert.doesNotMatch(sub.of('DDATA', 'd1')[1]!.text, /is_historical/);

    // Spec 3.0 [tck-id-message-flow-edge-node-birth-publish-phid-offline]: a newer offline
    // STATE makes the edge node publish NDEATH, disconnect and start over (it held silently).
    const connectsBefore = node.forwarder.stats().connectAttempts;
    await hostState(sub, false, t0 + 1);
    await sub.waitFor('NDEATH after STATE offline', (s) => s.of('NDEATH').length === 1);
    assert.equal(bdSeqOf(sub.of('NDEATH')[0]!.text), bdSeqOf(sub.of('NBIRTH')[0]!.text));
    await waitFor(
      'a new connection',
      () => node.forwarder.stats().connectAttempts > connectsBefore && node.forwarder.stats().connected,
    );
    assert.equal(node.uplink.ready, false, 'held on the new connection: the retained STATE is offline');
    await hostState(sub, true, t0 - 1); // stale: older than the last STATE, ignored
    outbox.append([telemetry('d1', 1_700_000_002_000, 3)]);
    outbox.append([telemetry('d1', 1_700_000_003_000, 4)]);
    await waitFor('the live record acked', () => outbox.remaining().length === 2);
    await settle();
    assert.equal(node.forwarder.stats().inflightMessages, 0, 'nothing published while the host is offline');
    assert.equal(node.uplink.ready, false, 'the stale STATE did not resume');

    await hostState(sub, true, t0 + 2);
    await sub.waitFor('historical DDATA', (s) => s.of('DDATA', 'd1').length === 3);
    const types = sub.messages.filter((m) => m.type !== 'json').map((m) => m.type);
    assert.deepEqual(
      types.slice(-4),
      ['NBIRTH', 'DBIRTH', 'DBIRTH', 'DDATA'],
      'a new birth before the history',
    );
    assert.equal(
      bdSeqOf(sub.of('NBIRTH')[1]!.text),
      ((bdSeqOf(sub.of('NDEATH')[0]!.text) ?? 0) + 1) % 256,
      'the new session has the next bdSeq',
    );
    const historical = sub.of('DDATA', 'd1')[2]!.text;
    assert.equal(historical.match(/is_historical: true/g)?.length, 8, 'both records, 4 metrics each');
    assert.match(historical, /timestamp: 1700000002000/);
    assert.match(historical, /timestamp: 1700000003000/);
    await waitFor('outbox emptied by PUBACKs', () => outbox.remaining().length === 0);
  },
);

class WritableFake extends FakeDriver {
  readonly writes: Array<{ tag: string; value: WriteValue }> = [];
  write = (tag: string, value: WriteValue): Promise<void> => {
    this.writes.push({ tag, value });
    return Promise.resolve();
  };
}

test('DCMD writes go through the command router: allowed on d1, refused on d2', { skip }, async (t) => {
  const sub = await Subscriber.start(broker.url);
  const outbox = new FakeOutbox();
  const node = edgeNode(broker.url, outbox);
  const d1 = new WritableFake('d1', [{ name: 'temp.c', intervalMs: 1000 }]);
  const d2 = new WritableFake('d2', [{ name: 'temp.c', intervalMs: 1000 }]);
  const sink: OutboxSink = {
    append: (r) => void outbox.append([r]),
    appendDurable: (r) => Promise.resolve(outbox.append([r])[0]!),
  };
  const router = new CommandRouter(
    [
      { device: 'd1', driver: d1, allowWrites: true },
      { device: 'd2', driver: d2, allowWrites: false },
    ],
    commandsSchema.parse({}),
    {
      channel: node.uplink.commandChannel(node.forwarder.commands),
      sink,
      clock: systemClock,
      logger: captureLogger(),
    },
  );
  t.after(async () => {
    await router.stop();
    await node.forwarder.stop();
    await sub.close();
  });
  router.start();
  await node.forwarder.start();
  await sub.waitFor('births', (s) => s.of('DBIRTH').length === 2);
  // Int16 -5 as Sparkplug carries it: two's complement in uint32, encoded by protoc.
  const dcmd = protocEncode(
    `timestamp: ${Date.now()}\nmetrics { name: "temp.c" datatype: 2 int_value: 4294967291 }\n`,
  );
  await sub.client.publishAsync(`spBv1.0/${GROUP}/DCMD/${EDGE}/d1`, dcmd, { qos: 1 });
  await sub.client.publishAsync(`spBv1.0/${GROUP}/DCMD/${EDGE}/d2`, dcmd, { qos: 1 });
  const results = (device: string): Array<{ status?: string; code?: string }> =>
    sub.messages
      .filter((m) => m.topic === `edge/s1/${device}/cmd/result`)
      .map((m) => JSON.parse(m.text) as { status?: string; code?: string });
  await sub.waitFor('both results', () => results('d1').length === 1 && results('d2').length === 1);
  assert.deepEqual(d1.writes, [{ tag: 'temp.c', value: -5 }]);
  assert.equal(results('d1')[0]?.status, 'done');
  assert.deepEqual(d2.writes, [], 'd2 does not allow writes: the driver is never called');
  assert.equal(results('d2')[0]?.status, 'rejected');
  assert.equal(results('d2')[0]?.code, 'EDGE_ERR_CMD_NOT_ALLOWED');

  const stale = protocEncode(
    `timestamp: ${Date.now() - 3_600_000}\nmetrics { name: "temp.c" int_value: 1 }\n`,
  );
  await sub.client.publishAsync(`spBv1.0/${GROUP}/DCMD/${EDGE}/d1`, stale, { qos: 1 });
  await sub.waitFor('stale refused', () => results('d1').length === 2);
  assert.equal(results('d1')[1]?.code, 'EDGE_ERR_CMD_EXPIRED', 'the same freshness rule as JSON commands');
  assert.equal(d1.writes.length, 1);

  // Garbage is dropped without taking anything down; a metric by alias (no name, no datatype)
  // is the tag of that alias in d1's birth, read with the tag's datatype (Int16).
  await sub.client.publishAsync(`spBv1.0/${GROUP}/DCMD/${EDGE}/d1`, Buffer.from([0xff, 0xff, 0xff]), {
    qos: 1,
  });
  const alias = /name: "temp.c"\s+alias: (\d+)/.exec(sub.of('DBIRTH', 'd1')[0]!.text)?.[1];
  assert.ok(alias);
  const byAlias = protocEncode(
    `timestamp: ${Date.now()}\nmetrics { alias: ${alias} int_value: 4294967290 }\n`,
  );
  await sub.client.publishAsync(`spBv1.0/${GROUP}/DCMD/${EDGE}/d1`, byAlias, { qos: 1 });
  await sub.waitFor('the write by alias', () => results('d1').length === 3);
  assert.deepEqual(d1.writes.at(-1), { tag: 'temp.c', value: -6 });
});
