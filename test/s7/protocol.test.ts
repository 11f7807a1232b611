/** Pure S7 frame code: request building, answer parsing (per-item codes, malformed input), stream framing. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildConnectRequest,
  buildReadRequest,
  buildWriteRequest,
  parseAck,
  parseConnectReply,
  parseReadReply,
  parseSetupReply,
  parseWriteReply,
  rackSlotTsap,
  TpktReader,
  type AckData,
} from '../../src/drivers/s7/protocol.js';
import { itemErrorCode } from '../../src/drivers/s7/errors.js';
import { ackFrame } from './fake-plc.js';

function ack(frame: Buffer): AckData {
  const parsed = parseAck(frame);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason);
  return parsed.value;
}

describe('S7 ReadVar answers', () => {
  it('returns data items and each error item with its own return code (0x03 0x05 0x06 0x07 0x0A)', () => {
    // good INT, then five error items (4 bytes each), then a good odd-length BYTE item (last: no pad)
    const frame = ackFrame(
      '04 07',
      'ff 04 0010 fffe  03 00 0000  05 00 0000  06 00 0000  07 00 0000  0a 00 0000  ff 04 0008 2a',
    );
    const reply = parseReadReply(ack(frame), 7);
    assert.ok(reply.ok && reply.value.kind === 'items');
    const items = reply.value.items;
    assert.deepEqual(
      items.map((i) => i.code),
      [0xff, 0x03, 0x05, 0x06, 0x07, 0x0a, 0xff],
    );
    assert.deepEqual('data' in items[0]! && [...items[0].data], [0xff, 0xfe]);
    assert.deepEqual('data' in items[6]! && [...items[6].data], [0x2a]);
    assert.deepEqual(
      items.slice(1, 6).map((i) => itemErrorCode(i.code)),
      [
        'EDGE_ERR_S7_ITEM_ACCESS_DENIED',
        'EDGE_ERR_S7_ITEM_OUT_OF_RANGE',
        'EDGE_ERR_S7_ITEM_TYPE_UNSUPPORTED',
        'EDGE_ERR_S7_ITEM_TYPE_INCONSISTENT',
        'EDGE_ERR_S7_ITEM_NOT_FOUND',
      ],
    );
    assert.equal(itemErrorCode(0x42), 'EDGE_ERR_S7_ITEM_ERROR');
  });

  it('snap7 error items (length field 4, no data: the nodes7 RangeError crash) do not shift the next items', () => {
    // fixture: ['DB1,INT0','DB1,INT100','DB2,INT0'] from snap7 — out of range and missing DB carry length 4
    const frame = ackFrame('04 03', 'ff 04 0010 0007  05 00 0004  0a 00 0004');
    const reply = parseReadReply(ack(frame), 3);
    assert.ok(reply.ok && reply.value.kind === 'items');
    assert.deepEqual(
      reply.value.items.map((i) => i.code),
      [0xff, 0x05, 0x0a],
    );
    const good = parseReadReply(ack(ackFrame('04 03', '0a 00 0004  ff 04 0010 0102  05 00 0000')), 3);
    assert.ok(good.ok && good.value.kind === 'items');
    assert.deepEqual('data' in good.value.items[1]! && [...good.value.items[1].data], [1, 2]);
  });

  it('skips the pad byte after an odd item that is not the last; octet transport lengths are bytes', () => {
    const frame = ackFrame('04 03', 'ff 04 0008 11 00  ff 09 0002 0304  ff 03 0001 01');
    const reply = parseReadReply(ack(frame), 3);
    assert.ok(reply.ok && reply.value.kind === 'items');
    assert.deepEqual(
      reply.value.items.map((i) => ('data' in i ? [...i.data] : null)),
      [[0x11], [3, 4], [1]],
    );
  });

  it('a header error rejects the whole request with class and code', () => {
    const reply = parseReadReply(ack(ackFrame('', '', { errorClass: 0x81, errorCode: 0x04 })), 2);
    assert.deepEqual(reply, { ok: true, value: { kind: 'rejected', errorClass: 0x81, errorCode: 0x04 } });
  });

  const malformed: [string, Buffer, number][] = [
    ['item data longer than the frame', ackFrame('04 01', 'ff 04 0040 0001'), 1],
    ['item header cut off', ackFrame('04 02', 'ff 04 0010 0001  0a 00'), 2],
    ['fewer items than requested', ackFrame('04 01', 'ff 04 0010 0001'), 2],
    ['wrong function', ackFrame('05 01', 'ff'), 1],
    ['empty parameter', ackFrame('', ''), 1],
  ];
  for (const [what, frame, expected] of malformed) {
    it(`reports a malformed answer, never throws: ${what}`, () => {
      const reply = parseReadReply(ack(frame), expected);
      assert.equal(reply.ok, false);
    });
  }

  it('rejects truncated and foreign frames at the S7 header', () => {
    const full = ackFrame('04 01', 'ff 04 0010 0001');
    for (let cut = 0; cut < full.length - 6; cut++) {
      const frame = Buffer.from(full.subarray(0, cut));
      if (frame.length >= 4) frame.writeUInt16BE(frame.length, 2);
      const parsed = parseAck(frame);
      if (parsed.ok) assert.equal(parseReadReply(parsed.value, 1).ok, false, `cut at ${cut}`);
    }
    const notS7 = Buffer.from(full);
    notS7[7] = 0x72; // S7comm-plus protocol id
    assert.equal(parseAck(notS7).ok, false);
    const notData = Buffer.from(full);
    notData[5] = 0xd0;
    assert.equal(parseAck(notData).ok, false);
  });
});

describe('S7 requests and handshake frames', () => {
  it('builds a ReadVar item with area, DB, bit address and length', () => {
    const frame = buildReadRequest(0x1234, [
      { areaCode: 0x84, db: 7, start: 10, bit: 0, length: 4, transport: 0x02 },
    ]);
    assert.equal(
      frame.toString('hex'),
      '0300001f02f080' + '320100001234000e0000' + '0401' + '120a10020004000784000050',
    );
  });

  it('builds a single-bit WriteVar with bit transport and a BYTE write with bit length', () => {
    const bit = buildWriteRequest(1, [
      {
        spec: { areaCode: 0x84, db: 1, start: 2, bit: 3, length: 1, transport: 0x01 },
        data: Buffer.from([1]),
      },
    ]);
    assert.equal(bit.subarray(17).toString('hex'), '0501' + '120a10010001000184000013' + '0003000101');
    const word = buildWriteRequest(1, [
      {
        spec: { areaCode: 0x83, db: 0, start: 4, bit: 0, length: 2, transport: 0x02 },
        data: Buffer.from([0xab, 0xcd]),
      },
    ]);
    assert.equal(word.subarray(17).toString('hex'), '0501' + '120a10020002000083000020' + '00040010abcd');
  });

  it('parses WriteVar return codes', () => {
    const reply = parseWriteReply(ack(ackFrame('05 02', 'ff 05')), 2);
    assert.deepEqual(reply, { ok: true, value: { kind: 'codes', codes: [0xff, 0x05] } });
    assert.equal(parseWriteReply(ack(ackFrame('05 02', 'ff')), 2).ok, false);
  });

  it('classifies COTP replies and encodes rack/slot TSAPs', () => {
    assert.equal(rackSlotTsap(0, 2), 0x0102);
    assert.equal(rackSlotTsap(1, 3), 0x0123);
    assert.equal(
      buildConnectRequest(0x0100, 0x0102).toString('hex'),
      '0300001611e00000000100c0010ac1020100c2020102',
    );
    assert.deepEqual(parseConnectReply(Buffer.from('0300001611d00001000100c0010ac1020100c2020102', 'hex')), {
      ok: true,
      value: { kind: 'confirm' },
    });
    const dr = parseConnectReply(Buffer.from('0300000b0680000100010a', 'hex'));
    assert.ok(dr.ok && dr.value.kind === 'refused');
    assert.equal(parseConnectReply(Buffer.from('030000', 'hex')).ok, false);
  });

  it('parses the negotiated PDU size and refuses a setup error', () => {
    const ok = parseSetupReply(ack(ackFrame('f000 0001 0001 00f0', '')));
    assert.deepEqual(ok, { ok: true, value: { pduSize: 240, maxJobs: 1 } });
    assert.equal(
      parseSetupReply(ack(ackFrame('f000 0001 0001 00f0', '', { errorClass: 0x81, errorCode: 0x04 }))).ok,
      false,
    );
    assert.equal(parseSetupReply(ack(ackFrame('f000 00', ''))).ok, false);
  });
});

describe('TPKT stream framing', () => {
  it('reassembles split frames and splits coalesced ones', () => {
    const a = ackFrame('04 01', 'ff 04 0010 0001', { ref: 1 });
    const b = ackFrame('04 01', 'ff 04 0010 0002', { ref: 2 });
    const both = Buffer.concat([a, b]);
    const reader = new TpktReader();
    const got: Buffer[] = [];
    for (let i = 0; i < both.length; i += 5) {
      const r = reader.push(both.subarray(i, i + 5));
      assert.ok(r.ok);
      got.push(...r.value);
    }
    assert.deepEqual(got, [a, b]);
    assert.equal(reader.pending, 0);
  });

  it('reports a stream that is out of step', () => {
    assert.equal(new TpktReader().push(Buffer.from('48545450', 'hex')).ok, false);
    assert.equal(new TpktReader().push(Buffer.from('03000002', 'hex')).ok, false);
  });
});
