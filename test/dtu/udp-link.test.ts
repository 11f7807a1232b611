/**
 * The UDP link's duplicate window on a manual clock: copies within the window are dropped,
 * requests wait the window out after the last answer, so an identical real answer is
 * never taken for a copy; rebinding moves where requests go. No sockets: a DatagramPeer
 * whose sends the test records.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { DatagramPeer } from '../../src/core/datagram-peer.js';
import { silentLogger } from '../../src/core/ports.js';
import { dtuSchema } from '../../src/drivers/modbus/dtu/config.js';
import { DtuHub } from '../../src/drivers/modbus/dtu/hub.js';
import { UdpDtuLink } from '../../src/drivers/modbus/dtu/udp-link.js';
import { holdingResponse } from '../dtu-sim/agent.js';

const ANSWER = holdingResponse(1, [1, 2, 3]);

function link(clock: ManualClock): {
  link: UdpDtuLink;
  peer: DatagramPeer;
  sent: Array<{ at: number; to: string }>;
} {
  const config = dtuSchema.parse({
    udpServer: { host: '127.0.0.1' },
    links: [
      {
        name: 'n',
        mode: 'server',
        transport: 'udp',
        registration: { ascii: 'N' },
        heartbeat: { ascii: 'HB' },
        duplicateWindowMs: 50,
        missedHeartbeats: 0,
      },
    ],
  });
  const l = new UdpDtuLink(config.links[0]!, { clock, logger: silentLogger, random: () => 0.5 }, false);
  const sent: Array<{ at: number; to: string }> = [];
  const peer = new DatagramPeer(
    (_d, port, address) => sent.push({ at: clock.monotonic(), to: `${address}:${port}` }),
    '10.0.0.7',
    4000,
  );
  l.attachPeer(peer);
  return { link: l, peer, sent };
}

/** A link on a manual clock whose first read (unit 1, holding 0..2) has been answered with ANSWER. */
async function answered(): Promise<{ clock: ManualClock; l: UdpDtuLink }> {
  const clock = new ManualClock();
  const { link: l } = link(clock);
  await l.transport.connect();
  const first = l.transport.readHolding(1, 0, 3, 1000);
  l.receive(ANSWER, 0);
  assert.deepEqual(await first, [1, 2, 3]);
  return { clock, l };
}

describe('UDP DTU link', () => {
  it('a copy within duplicateWindowMs is dropped; the same bytes after it are an answer', async () => {
    const { clock, l } = await answered();
    await clock.advance(10);
    l.receive(ANSWER, 0); // the network's copy
    assert.equal(l.status().duplicates, 1);
    const second = l.transport.readHolding(1, 0, 3, 1000);
    await clock.advance(60);
    l.receive(ANSWER, 0); // the real answer, identical: outside the window
    assert.deepEqual(await second, [1, 2, 3]);
    assert.equal(l.status().duplicates, 1);
    assert.equal(l.status().responses, 2);
  });

  it('the next request waits the window out after the last answer; heartbeats do not delay it', async () => {
    const clock = new ManualClock();
    const { link: l, sent } = link(clock);
    await l.transport.connect();
    const t0 = clock.monotonic();
    const first = l.transport.readHolding(1, 0, 3, 1000);
    assert.equal(sent.length, 1, 'nothing received yet: sent at once');
    await clock.advance(5);
    l.receive(ANSWER, 0);
    await first;
    l.receive(Buffer.from('HB'), 0);
    const second = l.transport.readHolding(1, 0, 3, 1000);
    await clock.advance(49);
    assert.equal(sent.length, 1, 'held inside the window');
    await clock.advance(1);
    assert.equal(sent.length, 2);
    assert.equal(sent[1]!.at - t0, 55, 'sent when the window after the answer ended');
    l.receive(ANSWER, 0);
    assert.deepEqual(await second, [1, 2, 3]);
    assert.equal(l.status().heartbeats, 1);
  });

  it('a whole copy of the previous answer later than the window is held until the real answer shows it a copy', async () => {
    const { clock, l } = await answered();
    const high = l.transport.readHolding(1, 3, 3, 1000);
    await clock.advance(60); // request sent at 50
    l.receive(ANSWER, 0); // the copy of low's answer, 60 ms late: past the window
    await clock.advance(10);
    l.receive(holdingResponse(1, [4, 5, 6]), 0); // high's real answer
    assert.deepEqual(await high, [4, 5, 6]);
    assert.equal(l.status().duplicates, 1);
  });

  it('equal blocks: the real answer identical to the previous one is asked again, and the same answer is taken', async () => {
    const clock = new ManualClock();
    const { link: l, sent } = link(clock);
    await l.transport.connect();
    const first = l.transport.readHolding(1, 0, 3, 1000);
    l.receive(ANSWER, 0);
    await first;
    let got: number[] | undefined;
    const high = l.transport.readHolding(1, 3, 3, 1000).then((v) => (got = v));
    await clock.advance(60);
    assert.equal(sent.length, 2);
    l.receive(ANSWER, 0); // high's real answer reads the same
    await clock.advance(49);
    assert.equal(got, undefined, 'held for the window (no answer time learnt yet beyond it)');
    await clock.advance(1);
    assert.equal(got, undefined, 'the suspect is not taken for the answer');
    await clock.advance(50);
    assert.equal(sent.length, 3, 'high asked again once the window after the suspect passed');
    l.receive(ANSWER, 0); // the same registers read the same again
    await high;
    assert.deepEqual(got, [1, 2, 3]);
    assert.equal(l.status().duplicates, 0);
    assert.equal(l.status().reasked, 1);
  });

  it('udp-late-copy-with-lost-answer-asks-again: a late copy whose real answer is lost is never taken for it', async () => {
    const clock = new ManualClock();
    const { link: l, sent } = link(clock);
    await l.transport.connect();
    const first = l.transport.readHolding(1, 0, 3, 1000);
    l.receive(ANSWER, 0);
    await first;
    let got: number[] | undefined;
    const high = l.transport.readHolding(1, 3, 3, 1000).then((v) => (got = v));
    await clock.advance(60);
    l.receive(ANSWER, 0); // low's answer again, late; high's real answer is lost
    await clock.advance(100);
    assert.equal(got, undefined, "low's registers never answer high");
    assert.equal(sent.length, 3, 'high asked again');
    l.receive(holdingResponse(1, [4, 5, 6]), 0);
    await high;
    assert.deepEqual(got, [4, 5, 6]);
  });

  it('a registration in front of a datagram is removed and counted as bytes in', async () => {
    const clock = new ManualClock();
    const { link: l } = link(clock);
    await l.transport.connect();
    const read = l.transport.readHolding(1, 0, 3, 1000);
    l.receive(ANSWER, 1); // "N" stripped by the endpoint
    assert.deepEqual(await read, [1, 2, 3]);
    assert.equal(l.status().bytesIn, ANSWER.length + 1);
    assert.equal(l.status().datagramsIn, 1);
  });

  it('rebind moves the requests to the new source', async () => {
    const clock = new ManualClock();
    const { link: l, sent } = link(clock);
    await l.transport.connect();
    l.rebind('10.0.0.8', 4100);
    assert.equal(l.status().remoteAddress, '10.0.0.8:4100');
    assert.equal(l.status().rebinds, 1);
    void l.transport.readHolding(1, 0, 3, 100).catch(() => undefined);
    assert.equal(sent.at(-1)!.to, '10.0.0.8:4100');
    await clock.advance(200);
  });

  it('dtu-status-lists-readme-fields (udp): every field of the README row for udp links is in status()', () => {
    const text = readFileSync(join(process.cwd(), 'src/drivers/modbus/README.md'), 'utf8');
    const row = text.split('\n').find((l) => l.startsWith('| udp links: '));
    assert.ok(row, 'README row for udp links');
    const fields = [...(row.split('|')[1] ?? '').matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]!);
    assert.ok(fields.length >= 4);
    const hub = new DtuHub(
      dtuSchema.parse({
        udpServer: { host: '127.0.0.1' },
        links: [{ name: 'u', mode: 'server', transport: 'udp', registration: { ascii: 'U' } }],
      }),
      { clock: new ManualClock(), logger: silentLogger, random: () => 0.5 },
    );
    const status = hub.status().u!;
    assert.deepEqual(
      fields.filter((f) => !(f in status)),
      [],
    );
  });
});
