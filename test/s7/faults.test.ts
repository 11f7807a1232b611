/** Connection faults and hostile answers, from a scripted peer: stable codes, no crash, bounded waits. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '../../src/core/clock.js';
import { EdgeError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/ports.js';
import { s7DeviceSchema } from '../../src/drivers/s7/config.js';
import { S7Device } from '../../src/drivers/s7/device.js';
import { freePort } from '../helpers/net.js';
import { waitFor } from '../helpers/wait.js';
import { ackFrame, COTP_DR, FakePlc, withRef, type FakePlcScript } from './fake-plc.js';

function device(port: number, extra: Record<string, unknown> = {}): S7Device {
  const config = s7DeviceSchema.parse({
    name: 'plc',
    driver: 's7',
    connection: { host: '127.0.0.1', port },
    connectTimeoutMs: 300,
    requestTimeoutMs: 200,
    reconnect: { initialMs: 10, maxMs: 20, jitter: 0 },
    tags: [
      { name: 'a', address: 'DB1,INT0', writable: true },
      { name: 'b', address: 'DB1,INT100' },
    ],
    ...extra,
  });
  return new S7Device(config, { clock: systemClock, logger: silentLogger, random: () => 0.5 });
}

async function withPlc(t: { after(fn: () => unknown): void }, script: FakePlcScript) {
  const plc = await FakePlc.start(script);
  const d = device(plc.port);
  t.after(async () => {
    await d.stop();
    await plc.close();
  });
  return { plc, d };
}

async function startCode(d: S7Device): Promise<unknown> {
  const e = await d.start().then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.ok(e instanceof EdgeError && e.code === 'EDGE_ERR_DRIVER_START', String(e));
  return e.context.code;
}

describe('S7 connection faults', () => {
  it('PLC off: connection refused', async (t) => {
    const d = device(await freePort());
    t.after(() => d.stop());
    assert.equal(await startCode(d), 'EDGE_ERR_S7_CONNECT_REFUSED');
    const [v] = await d.poll(['a']);
    assert.ok(v!.quality === 'bad' && v!.code === 'EDGE_ERR_S7_CONNECT_REFUSED');
  });

  it('wrong rack/slot: COTP disconnect or a closed socket after the connection request', async (t) => {
    const dr = await withPlc(t, { cotp: () => COTP_DR });
    assert.equal(await startCode(dr.d), 'EDGE_ERR_S7_COTP_REFUSED');
    const closed = await withPlc(t, { cotp: () => 'close' });
    assert.equal(await startCode(closed.d), 'EDGE_ERR_S7_COTP_REFUSED');
  });

  it('PDU negotiation refused or cut off', async (t) => {
    const refused = await withPlc(t, {
      setup: (f) => withRef(ackFrame('f000 0001 0001 00f0', '', { errorClass: 0x81, errorCode: 0x04 }), f),
    });
    assert.equal(await startCode(refused.d), 'EDGE_ERR_S7_NEGOTIATION');
    const cut = await withPlc(t, { setup: () => 'close' });
    assert.equal(await startCode(cut.d), 'EDGE_ERR_S7_NEGOTIATION');
  });

  it('a silent peer (cable pulled after the TCP accept) times out the handshake', async (t) => {
    const { d } = await withPlc(t, { cotp: () => 'silence' });
    assert.equal(await startCode(d), 'EDGE_ERR_S7_CONNECT_TIMEOUT');
  });

  it('unanswered reads time out; after deadAfterTimeouts in a row the connection is re-opened', async (t) => {
    const { plc, d } = await withPlc(t, { request: () => 'silence' });
    await d.start();
    const first = await d.poll(['a', 'b']);
    assert.ok(first.every((v) => v.quality === 'bad' && v.code === 'EDGE_ERR_S7_TIMEOUT'));
    await d.poll(['a', 'b']);
    await waitFor('reconnect', () => plc.connections >= 2);
    assert.equal(d.status().reconnects, 1);
  });

  it('garbage instead of TPKT: BAD_RESPONSE, connection re-opened, process alive', async (t) => {
    const { plc, d } = await withPlc(t, { request: () => Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n') });
    await d.start();
    const values = await d.poll(['a']);
    assert.ok(values[0]!.quality === 'bad' && values[0]!.code === 'EDGE_ERR_S7_BAD_RESPONSE');
    await waitFor('reconnect', () => plc.connections >= 2);
  });

  it('a malformed item inside a good frame fails the request only: no reconnect', async (t) => {
    // item length says 64 bytes, 2 present
    const { plc, d } = await withPlc(t, { request: (f) => withRef(ackFrame('04 01', 'ff 04 0200 0001'), f) });
    await d.start();
    const [a] = await d.poll(['a']);
    assert.ok(a!.quality === 'bad' && a!.code === 'EDGE_ERR_S7_BAD_RESPONSE');
    await d.poll(['a']);
    assert.equal(plc.connections, 1);
    assert.equal(d.status().reconnects, 0);
  });

  it('a write that is never answered is reported unconfirmed after the timeout and sent exactly once', async (t) => {
    const { plc, d } = await withPlc(t, { request: () => 'silence' });
    await d.start();
    await assert.rejects(
      d.write('a', 5),
      (e: unknown) =>
        e instanceof EdgeError && e.code === 'EDGE_ERR_S7_WRITE_UNCONFIRMED' && e.context.tag === 'a',
    );
    assert.equal(plc.requests, 1);
  });

  it('a write refused by the PLC carries its return code', async (t) => {
    const { d } = await withPlc(t, { request: (f) => withRef(ackFrame('05 01', '03'), f) });
    await d.start();
    await assert.rejects(
      d.write('a', 5),
      (e: unknown) =>
        e instanceof EdgeError && e.code === 'EDGE_ERR_S7_ITEM_ACCESS_DENIED' && e.context.plcCode === 3,
    );
  });
});
