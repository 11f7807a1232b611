/**
 * Sparkplug B edge node through a real mosquitto, every message decoded by protoc with
 * Tahu's .proto: births before data, the NDEATH will with the NBIRTH's bdSeq when the
 * connection is cut, bdSeq kept across a restart, rebirth on NCMD, seq wrapping past 255,
 * DDEATH on device-offline, bad values never looking good.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { encodeValues } from '../../src/core/record-codec.js';
import { badValue, goodValue } from '../../src/core/types.js';
import { fileBdSeqStore } from '../../src/forwarders/sparkplug/bdseq.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/tmp.js';
import { once, waitFor } from '../helpers/wait.js';
import { FakeOutbox, event, telemetry } from '../mqtt/fake-outbox.js';
import {
  CutProxy,
  EDGE,
  GROUP,
  Subscriber,
  bdSeqOf,
  edgeNode,
  protocEncode,
  protocMissing,
  seqOf,
} from './helpers.js';

const skip = protocMissing();
let broker: MosquittoBroker;
before(async () => {
  if (!skip) broker = await startMosquitto();
});
after(async () => {
  await broker?.close();
});

/** The seq of every message after the last NBIRTH (NDEATH has none). */
function seqsSinceBirth(sub: Subscriber): number[] {
  const sp = sub.messages.filter((m) => m.type !== 'json' && m.type !== 'NDEATH');
  const start = sp.map((m) => m.type).lastIndexOf('NBIRTH');
  return sp.slice(start).map((m) => seqOf(m.text) ?? -1);
}

test(
  'births before data; the will is NDEATH with the NBIRTH bdSeq; bdSeq survives a restart',
  { skip },
  async (t) => {
    const dir = tempDir();
    const proxy = await CutProxy.start(broker.port);
    const sub = await Subscriber.start(broker.url);
    const outbox = new FakeOutbox();
    const store = fileBdSeqStore(join(dir.path, 'bdseq.json'));
    store.save(41); // a previous run's session
    let node = edgeNode(`mqtt://127.0.0.1:${proxy.port}`, outbox, { bdSeq: store });
    t.after(async () => {
      await node.forwarder.stop();
      await sub.close();
      await proxy.close();
      dir.remove();
    });
    outbox.append([telemetry('d1', 1_700_000_000_000, 1)]);
    await node.forwarder.start();
    await sub.waitFor('DDATA d1', (s) => s.of('DDATA', 'd1').length === 1);
    const types = sub.messages.filter((m) => m.type !== 'json').map((m) => `${m.type}/${m.device ?? ''}`);
    assert.deepEqual(types, ['NBIRTH/', 'DBIRTH/d1', 'DBIRTH/d2', 'DDATA/d1']);
    const nbirth = sub.of('NBIRTH')[0]!;
    assert.equal(nbirth.topic, `spBv1.0/${GROUP}/NBIRTH/${EDGE}`);
    assert.equal(bdSeqOf(nbirth.text), 42, 'the session after 41');
    assert.equal(seqOf(nbirth.text), 0);
    assert.match(nbirth.text, /name: "Node Control\/Rebirth"[\s\S]*boolean_value: false/);
    const dbirth = sub.of('DBIRTH', 'd1')[0]!.text;
    assert.match(dbirth, /name: "flow.m3h"\s+alias: \d+\s+timestamp: \d+\s+datatype: 10/);
    assert.match(dbirth, /name: "temp.c"\s+alias: \d+\s+timestamp: \d+\s+datatype: 2/);
    const ddata = sub.of('DDATA', 'd1')[0]!.text;
    assert.doesNotMatch(ddata, /name:/, 'DDATA uses aliases only');
    assert.match(ddata, /double_value: 101.7/);
    assert.deepEqual(seqsSinceBirth(sub), [0, 1, 2, 3]);
    await node.forwarder.stop(); // must not be the will: a graceful stop publishes NDEATH itself
    await sub.waitFor('graceful NDEATH', (s) => s.of('NDEATH').length === 1);
    assert.equal(bdSeqOf(sub.of('NDEATH')[0]!.text), 42);

    // A restart: the next session is 43 in both the will and the NBIRTH.
    node = edgeNode(`mqtt://127.0.0.1:${proxy.port}`, outbox, {
      bdSeq: fileBdSeqStore(join(dir.path, 'bdseq.json')),
    });
    await node.forwarder.start();
    await sub.waitFor('second NBIRTH', (s) => s.of('NBIRTH').length === 2);
    assert.equal(bdSeqOf(sub.of('NBIRTH')[1]!.text), 43);
    proxy.cut(); // no DISCONNECT: mosquitto publishes the will
    await sub.waitFor('NDEATH will', (s) => s.of('NDEATH').length === 2);
    assert.equal(bdSeqOf(sub.of('NDEATH')[1]!.text), 43, 'the will carries the bdSeq of its NBIRTH');
    await sub.waitFor('NBIRTH after reconnect', (s) => s.of('NBIRTH').length === 3);
    assert.equal(bdSeqOf(sub.of('NBIRTH')[2]!.text), 44);
    assert.deepEqual(outbox.remaining(), [], 'the DDATA record was acked on its PUBACK');
  },
);

test(
  'rebirth on NCMD (encoded by protoc), seq wraps past 255, DDEATH on device-offline',
  { skip },
  async (t) => {
    const sub = await Subscriber.start(broker.url);
    const outbox = new FakeOutbox();
    const node = edgeNode(broker.url, outbox, { maxRecords: 1 });
    t.after(async () => {
      await node.forwarder.stop();
      await sub.close();
    });
    await node.forwarder.start();
    await once(node.forwarder, 'connected');
    await sub.waitFor('DBIRTH d2', (s) => s.of('DBIRTH', 'd2').length === 1);
    for (let i = 0; i < 300; i++) outbox.append([telemetry('d1', 1_700_000_000_000 + i, i)]);
    await sub.waitFor('300 DDATA', (s) => s.of('DDATA').length === 300, 20_000);
    const seqs = seqsSinceBirth(sub);
    assert.equal(seqs.length, 303);
    seqs.forEach((seq, i) => assert.equal(seq, i % 256, `message ${i}`));
    assert.ok(seqs.includes(255) && seqs.lastIndexOf(0) > 255, 'wrapped');

    const ncmd = protocEncode(
      'timestamp: 1700000000000\nmetrics { name: "Node Control/Rebirth" datatype: 11 boolean_value: true }\n',
    );
    await sub.client.publishAsync(`spBv1.0/${GROUP}/NCMD/${EDGE}`, ncmd, { qos: 1 });
    await sub.waitFor('rebirth', (s) => s.of('NBIRTH').length === 2 && s.of('DBIRTH', 'd2').length === 2);
    const reborn = sub.of('DBIRTH', 'd1')[1]!.text;
    assert.match(reborn, /double_value: /, 'the rebirth carries the last values');

    outbox.append([
      {
        device: 'd2',
        cls: 'telemetry',
        ts: 1_700_000_001_000,
        body: encodeValues([badValue('temp.c', 'EDGE_ERR_MODBUS_TIMEOUT', 'no answer')]),
      },
    ]);
    await sub.waitFor('bad DDATA d2', (s) => s.of('DDATA', 'd2').length === 1);
    const bad = sub.of('DDATA', 'd2')[0]!.text;
    assert.match(bad, /is_null: true/);
    assert.match(
      bad,
      /keys: "Quality"[\s\S]*keys: "EDGE_ERR"[\s\S]*int_value: 0[\s\S]*string_value: "EDGE_ERR_MODBUS_TIMEOUT"/,
    );
    assert.doesNotMatch(bad, /int_value: 192/, 'never good');

    outbox.append([event('d2', 1_700_000_002_000, 'device-offline')]);
    await sub.waitFor('DDEATH d2', (s) => s.of('DDEATH', 'd2').length === 1);
    outbox.append([
      {
        device: 'd2',
        cls: 'telemetry',
        ts: 1_700_000_003_000,
        body: encodeValues([badValue('temp.c', 'EDGE_ERR_MODBUS_TIMEOUT', 'no answer')]),
      },
      {
        device: 'd2',
        cls: 'telemetry',
        ts: 1_700_000_004_000,
        body: encodeValues([goodValue('temp.c', 21)]),
      },
    ]);
    await sub.waitFor('DBIRTH d2 after the good value', (s) => s.of('DBIRTH', 'd2').length === 3);
    await sub.waitFor('DDATA d2 after the rebirth', (s) => s.of('DDATA', 'd2').length === 2);
    assert.ok(
      sub.messages.some((m) => m.topic === 'edge/s1/d2/telemetry'),
      "a dead device's bad records go on the JSON topic, PUBACKed, not as DDATA",
    );
    outbox.append([telemetry('removed', 1_700_000_005_000, 5)]);
    await sub.waitFor('a removed device on JSON', (s) =>
      s.messages.some((m) => m.topic === 'edge/s1/removed/telemetry'),
    );
    assert.equal(sub.of('DBIRTH', 'removed').length, 0, 'a device no longer configured is not born again');
    const order = sub.messages.filter((m) => m.device === 'd2').map((m) => m.type);
    assert.deepEqual(order.slice(-4), ['DDATA', 'DDEATH', 'DBIRTH', 'DDATA']);
    assert.match(sub.of('DDATA', 'd2')[1]!.text, /int_value: 21/);

    // A tag without a configured type, first seen bad: its type is guessed, and corrected (with
    // a DBIRTH) by its first good value, which is then not refused as a type mismatch.
    const births = sub.of('DBIRTH', 'd1').length;
    outbox.append([
      {
        device: 'd1',
        cls: 'telemetry',
        ts: 1_700_000_006_000,
        body: encodeValues([badValue('extra', 'EDGE_ERR_MODBUS_TIMEOUT', 'x')]),
      },
      {
        device: 'd1',
        cls: 'telemetry',
        ts: 1_700_000_007_000,
        body: encodeValues([goodValue('extra', 3.5)]),
      },
    ]);
    await sub.waitFor('the good extra value', (s) =>
      s.of('DDATA', 'd1').some((m) => /double_value: 3.5\b/.test(m.text)),
    );
    assert.equal(
      sub.of('DBIRTH', 'd1').length,
      births + 2,
      'born with the tag, then again with its real type',
    );
    assert.match(
      sub.of('DBIRTH', 'd1').at(-1)!.text,
      /name: "extra"\s+alias: \d+\s+timestamp: \d+\s+datatype: 10/,
    );
    assert.ok(!sub.messages.some((m) => m.text.includes('EDGE_ERR_SPARKPLUG_TYPE')));
    await waitFor('outbox emptied by PUBACKs', () => outbox.remaining().length === 0);
  },
);
