/**
 * The Modbus TCP client's connections share one read buffer (dialTcp, net `onread`): with
 * real sockets and a server that sends its answers in pieces, every read still gets its own
 * registers. Kept apart from tcp-client.test.ts, whose scripted socket keeps it a unit test.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { MbapSplitter } from '../../src/drivers/modbus/tcp/mbap.js';
import { ModbusTcpTransport } from '../../src/drivers/modbus/tcp/transport.js';

/** A read-holding answer with its MBAP header. */
function holdingAnswer(tid: number, unit: number, registers: number[]): Buffer {
  const b = Buffer.alloc(9 + registers.length * 2);
  b.writeUInt16BE(tid, 0);
  b.writeUInt16BE(3 + registers.length * 2, 4);
  b[6] = unit;
  b[7] = 3;
  b[8] = registers.length * 2;
  registers.forEach((r, i) => b.writeUInt16BE(r, 9 + 2 * i));
  return b;
}

test('tcp-read-buffer-shared-by-sockets: two connections to a real server, many answers in pieces, each read gets its own registers', async (t) => {
  // The server answers each read-holding request with [unit, address, tid]; what one read of
  // requests asks for goes out in two writes cut inside the first answer.
  const server = createServer((conn) => {
    const splitter = new MbapSplitter();
    let held: Buffer | undefined; // the second piece, written on the next turn (in order)
    conn.on('data', (chunk: Buffer) => {
      const answers: Buffer[] = [];
      splitter.push(chunk, (req) =>
        answers.push(
          holdingAnswer(req.readUInt16BE(0), req[6]!, [req[6]!, req.readUInt16BE(8), req.readUInt16BE(0)]),
        ),
      );
      const all = Buffer.concat(answers);
      if (held !== undefined) return void (held = Buffer.concat([held, all]));
      conn.write(all.subarray(0, 7));
      held = all.subarray(7);
      setImmediate(() => {
        conn.write(held ?? Buffer.alloc(0));
        held = undefined;
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const clients = [1, 2].map((unit) => ({
    unit,
    link: new ModbusTcpTransport({ host: '127.0.0.1', port, clock: systemClock, maxInFlight: 4 }),
  }));
  for (const c of clients) await c.link.connect();
  t.after(() => Promise.all(clients.map((c) => c.link.close())));
  const reads = clients.flatMap(({ unit, link }) =>
    Array.from({ length: 50 }, (_, i) =>
      link
        .readHolding(unit, 100 * unit + i, 3, 5000)
        .then((regs) => ({ unit, address: 100 * unit + i, regs })),
    ),
  );
  for (const { unit, address, regs } of await Promise.all(reads)) {
    assert.equal(regs[0], unit);
    assert.equal(regs[1], address);
  }
});
