/**
 * The DTU listener as an attacker on the network sees it (issue 12 item 2): source
 * allow-lists, no takeover of a live link, unknown registrations rate-limited per source.
 * Raw sockets on loopback, each bound to its own 127.0.0.x source address.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { type Clock, systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { dtuSchema, type DtuConfigInput } from '../../src/drivers/modbus/dtu/config.js';
import { DtuHub } from '../../src/drivers/modbus/dtu/hub.js';
import { withCrc } from '../../src/drivers/modbus/rtu/crc.js';
import { waitFor } from '../helpers/wait.js';

/** Real timers; monotonic time can be pushed forward (a link falls silent, a minute passes). */
class SkewClock implements Clock {
  skew = 0;
  now = (): number => Date.now() + this.skew;
  monotonic = (): number => performance.now() + this.skew;
  setTimeout: Clock['setTimeout'] = (fn, ms) => systemClock.setTimeout(fn, ms);
}

async function startHub(t: TestContext, config: DtuConfigInput, clock: Clock = systemClock): Promise<DtuHub> {
  const hub = new DtuHub(dtuSchema.parse(config), { clock, logger: silentLogger, random: Math.random });
  await hub.start();
  t.after(() => hub.stop());
  return hub;
}

interface Peer {
  readonly socket: Socket;
  readonly received: Buffer[];
  closed: boolean;
}

/** A TCP client from `source`, writing `first` once connected. */
async function dial(t: TestContext, hub: DtuHub, source: string, first?: string): Promise<Peer> {
  const socket = connect({ host: '127.0.0.1', port: hub.address()!.port, localAddress: source });
  const peer: Peer = { socket, received: [], closed: false };
  socket.on('error', () => undefined);
  socket.on('data', (b: Buffer) => peer.received.push(b));
  socket.on('close', () => (peer.closed = true));
  t.after(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('close', () => reject(new Error(`${source} could not connect`)));
  });
  if (first !== undefined) socket.write(first);
  return peer;
}

/** Answers every holding-register read with the register values given. */
function answerReads(peer: Peer, values: number[]): void {
  peer.socket.on('data', (req: Buffer) => {
    if (req.length !== 8 || req[1] !== 3) return;
    const body = Buffer.alloc(3 + values.length * 2);
    body[0] = req[0]!;
    body[1] = 3;
    body[2] = values.length * 2;
    values.forEach((v, i) => body.writeUInt16BE(v, 3 + i * 2));
    peer.socket.write(withCrc(body));
  });
}

const server = (extra: Record<string, unknown> = {}) => ({ host: '127.0.0.1', port: 0, ...extra });

describe('DTU listener: source allow-lists', () => {
  it('dtu.server.allowFrom: a source outside it is closed at accept, counted; one inside registers', async (t) => {
    const hub = await startHub(t, {
      server: server({ allowFrom: ['127.0.0.2/32', '::1'] }),
      links: [{ name: 'a', mode: 'server', registration: { ascii: 'A' } }],
    });
    const outsider = await dial(t, hub, '127.0.0.3', 'A');
    await waitFor('outsider closed', () => outsider.closed);
    assert.equal(hub.serverStatus().rejectedSource, 1);
    assert.equal(hub.status().a!.up, false);
    assert.deepEqual(outsider.received, []);
    await dial(t, hub, '127.0.0.2', 'A');
    await waitFor('a up', () => hub.status().a!.up);
    assert.match(hub.status().a!.remoteAddress!, /^127\.0\.0\.2:/);
  });

  it('a link allowFrom: its registration from elsewhere is refused, other links are not affected', async (t) => {
    const hub = await startHub(t, {
      server: server(),
      links: [
        { name: 'a', mode: 'server', registration: { ascii: 'A' }, allowFrom: ['127.0.0.4/30'] },
        { name: 'b', mode: 'server', registration: { ascii: 'B' } },
      ],
    });
    const wrong = await dial(t, hub, '127.0.0.9', 'A');
    await waitFor('closed', () => wrong.closed);
    assert.equal(hub.status().a!.rejectedSource, 1);
    assert.equal(hub.status().a!.up, false);
    await dial(t, hub, '127.0.0.9', 'B');
    await waitFor('b up', () => hub.status().b!.up);
    await dial(t, hub, '127.0.0.6', 'A');
    await waitFor('a up', () => hub.status().a!.up);
  });
});

/**
 * The DTU (127.0.0.2, answering reads with 1234) registers and heart-beats once; after
 * `meanwhile`, an attacker's connection with its registration is refused and the link stays.
 */
async function takeoverRefused(t: TestContext, hub: DtuHub, meanwhile: () => void): Promise<Peer> {
  const dtu = await dial(t, hub, '127.0.0.2', 'DTU-0311-01');
  answerReads(dtu, [1234]);
  await waitFor('up', () => hub.status().meter!.up);
  dtu.socket.write(Buffer.from([0xfe]));
  await waitFor('heartbeat', () => hub.status().meter!.heartbeats === 1);
  meanwhile();
  const attacker = await dial(t, hub, '127.0.0.66', 'DTU-0311-01');
  await waitFor('attacker closed', () => attacker.closed);
  const st = hub.status().meter!;
  assert.equal(st.takeoverRefused, 1);
  assert.equal(st.replaced, 0);
  assert.match(st.remoteAddress!, /^127\.0\.0\.2:/);
  return attacker;
}

describe('DTU listener: a live link is not taken over', () => {
  const links = (replaceLive: boolean) => [
    {
      name: 'meter',
      mode: 'server' as const,
      registration: { ascii: 'DTU-0311-01' },
      heartbeat: { hex: 'FE' },
      heartbeatIntervalMs: 1000,
      missedHeartbeats: 0,
      replaceLive,
    },
  ];

  it('a second connection with the same registration is refused while the link heart-beats; polls stay with the DTU', async (t) => {
    const hub = await startHub(t, { server: server(), links: links(false) });
    const attacker = await takeoverRefused(t, hub, () => undefined);
    const transport = hub.transport('meter');
    await transport.connect();
    const values = await transport.readHolding(1, 0, 1, 2000);
    assert.deepEqual(values, [1234]);
    assert.deepEqual(attacker.received, [], 'the refused connection got no poll');
  });

  it('a heart-beating link whose next heartbeat is a little late (jitter) is not taken over', async (t) => {
    // Silence reached one interval just before every heartbeat a few ms late: a takeover
    // then was a race an attacker retrying within the rate limit wins now and then.
    const clock = new SkewClock();
    const hub = await startHub(t, { server: server(), links: links(false) }, clock);
    await takeoverRefused(t, hub, () => (clock.skew += 1020));
  });

  it('once a heartbeat is overdue (silent for 1.5 intervals), the DTU reconnecting gets the link back', async (t) => {
    const clock = new SkewClock();
    const hub = await startHub(t, { server: server(), links: links(false) }, clock);
    const old = await dial(t, hub, '127.0.0.2', 'DTU-0311-01');
    await waitFor('up', () => hub.status().meter!.up);
    clock.skew += 1501;
    const fresh = await dial(t, hub, '127.0.0.3', 'DTU-0311-01');
    await waitFor('old closed', () => old.closed);
    const st = hub.status().meter!;
    assert.equal(st.replaced, 1);
    assert.equal(st.takeoverRefused, 0);
    assert.equal(st.remoteAddress, `127.0.0.3:${fresh.socket.localPort}`);
  });

  it('replaceLive: true keeps the old behaviour (the newest connection wins)', async (t) => {
    const hub = await startHub(t, { server: server(), links: links(true) });
    const first = await dial(t, hub, '127.0.0.2', 'DTU-0311-01');
    await waitFor('up', () => hub.status().meter!.up);
    await dial(t, hub, '127.0.0.3', 'DTU-0311-01');
    await waitFor('first closed', () => first.closed);
    assert.equal(hub.status().meter!.replaced, 1);
  });
});

describe('DTU listener: unknown registrations', () => {
  it('are rate-limited per source address: beyond the limit the source is refused at accept for the minute', async (t) => {
    const clock = new SkewClock();
    const hub = await startHub(
      t,
      {
        server: server({ unknownRegistrationsPerMinute: 3 }),
        links: [{ name: 'a', mode: 'server', registration: { ascii: 'DTU-A' } }],
      },
      clock,
    );
    for (let i = 0; i < 3; i++) {
      const guess = await dial(t, hub, '127.0.0.7', `GUESS-${i}-xxxxxxxx`);
      await waitFor('guess closed', () => guess.closed);
    }
    assert.equal(hub.serverStatus().unknownRegistrations, 3);
    const limited = await dial(t, hub, '127.0.0.7', 'DTU-A');
    await waitFor('limited closed', () => limited.closed);
    assert.equal(hub.serverStatus().rateLimited, 1);
    assert.equal(hub.serverStatus().unknownRegistrations, 3, 'refused before its bytes are read');
    assert.equal(hub.status().a!.up, false);
    // another source is not affected
    const other = await dial(t, hub, '127.0.0.8', 'DTU-A');
    await waitFor('a up', () => hub.status().a!.up);
    other.socket.destroy();
    await waitFor('a down', () => !hub.status().a!.up);
    // the next minute the source may try again
    clock.skew += 60_000;
    await dial(t, hub, '127.0.0.7', 'DTU-A');
    await waitFor('a up again', () => hub.status().a!.up);
  });
});
