/**
 * Sparkplug wired through the agent (config → uplink → forwarder → command router), against
 * a real pymodbus server and mosquitto, decoded by protoc: ids default to site and agent id,
 * bdSeq is kept beside the outbox, datatypes come from the Modbus tag types, and a DCMD
 * write reaches the register (read back in the next DDATA); a device without allowWrites
 * refuses it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { Agent } from '../../src/agent.js';
import { configSchema, type EdgeConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/core/ports.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { startPymodbus, type Peer } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';
import { Subscriber, bdSeqOf, protocEncode, protocMissing } from './helpers.js';

const skip = protocMissing();
const dir = tempDir();
let peer: Peer | undefined;
let broker: MosquittoBroker | undefined;
let port = 0;
before(async () => {
  if (skip) return;
  port = await freePort();
  peer = await startPymodbus({
    transport: 'tcp',
    port,
    slaves: { 1: { holding: { values: { 0: [2301, 17] } } } },
  });
  broker = await startMosquitto();
});
after(async () => {
  await peer?.stop();
  await broker?.close();
  dir.remove();
});

it(
  'the agent is a Sparkplug edge node: births from the config, DCMD writes a register',
  { skip, timeout: 60_000 },
  async () => {
    const url = broker!.url;
    const device = (name: string, allowWrites: boolean) => ({
      name,
      driver: 'modbus' as const,
      connection: { transport: 'tcp' as const, host: '127.0.0.1', port },
      intervalMs: 200,
      commands: { allowWrites },
      tags: [
        { name: 'voltage', function: 'holding' as const, address: 0, type: 'i16' as const },
        { name: 'setpoint', function: 'holding' as const, address: 1, writable: true },
      ],
    });
    const input: EdgeConfigInput = {
      agent: { id: 'gw1', site: 'site-1' },
      store: { path: join(dir.path, 'outbox.db') },
      http: { enabled: false },
      mqtt: { url, allowInsecure: true, payload: { format: 'sparkplug' } },
      devices: [
        device('meter', true),
        device('locked', false),
        { ...device('quiet', false), report: { mode: 'change', maxPeriodMs: 600_000 } },
      ],
    };
    const sub = await Subscriber.start(url, 'site-1');
    const agent = new Agent({ config: configSchema.parse(input), logger: silentLogger });
    try {
      await agent.start();
      await sub.waitFor(
        'DDATA of both devices',
        (s) => s.of('DDATA', 'meter').length > 0 && s.of('DDATA', 'locked').length > 0,
      );
      const nbirth = sub.of('NBIRTH')[0]!;
      assert.equal(nbirth.topic, 'spBv1.0/site-1/NBIRTH/gw1', 'group = site, edge node = agent id');
      assert.equal(bdSeqOf(nbirth.text), 0);
      assert.deepEqual(JSON.parse(readFileSync(join(dir.path, 'sparkplug-bdseq.json'), 'utf8')), {
        bdSeq: 0,
      });
      const dbirth = sub.of('DBIRTH', 'meter')[0]!.text;
      assert.match(dbirth, /name: "voltage"\s+alias: \d+\s+timestamp: \d+\s+datatype: 2/, 'i16 → Int16');
      assert.match(dbirth, /name: "setpoint"\s+alias: \d+\s+timestamp: \d+\s+datatype: 6/, 'u16 → UInt16');
      assert.match(sub.of('DDATA', 'meter')[0]!.text, /int_value: 2301/);

      // Report by exception: quiet's unchanged registers are reported once, and again after a
      // rebirth (the first value after a rebirth is always reported).
      await sub.waitFor('quiet reported', (s) => s.of('DDATA', 'quiet').length >= 1);
      const quiet = (): string[] => sub.messages.filter((m) => m.device === 'quiet').map((m) => m.type);
      const before = quiet().length;
      const rebirth = protocEncode(
        `metrics { name: "Node Control/Rebirth" datatype: 11 boolean_value: true }\n`,
      );
      await sub.client.publishAsync('spBv1.0/site-1/NCMD/gw1', rebirth, { qos: 1 });
      await sub.waitFor('quiet reported after its rebirth', () =>
        /DBIRTH,DDATA$/.test(quiet().slice(before).join()),
      );
      assert.match(sub.of('DDATA', 'quiet').at(-1)!.text, /int_value: 2301/);

      const write = protocEncode(
        `timestamp: ${Date.now()}\nmetrics { name: "setpoint" datatype: 6 int_value: 42 }\n`,
      );
      await sub.client.publishAsync('spBv1.0/site-1/DCMD/gw1/meter', write, { qos: 1 });
      await sub.client.publishAsync('spBv1.0/site-1/DCMD/gw1/locked', write, { qos: 1 });
      await sub.waitFor('the written value polled back', (s) =>
        s.of('DDATA', 'meter').some((m) => /int_value: 42\b/.test(m.text)),
      );
      await sub.waitFor('the refusal of locked', (s) =>
        s.messages.some(
          (m) => m.topic === 'edge/site-1/locked/cmd/result' && m.text.includes('EDGE_ERR_CMD_NOT_ALLOWED'),
        ),
      );
    } finally {
      await agent.stop();
      await sub.close();
    }
    assert.ok(sub.of('NDEATH').length >= 1, 'a graceful stop publishes NDEATH');
    assert.equal(bdSeqOf(sub.of('NDEATH').at(-1)!.text), 0);
  },
);
