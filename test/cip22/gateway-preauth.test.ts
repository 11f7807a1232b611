/**
 * Pre-authentication connections (issue 12 item 3). Before: a TCP connection that never
 * sent a ClientHello was invisible to the gateway (tls.Server shows a connection only after
 * its handshake) and stayed open for ever, outside maxSessions, the rate limit and
 * handshakeTimeoutMs. Now the deadline runs from TCP accept, TLS included, and pre-auth
 * connections are capped in total and per source at accept. The clock is injected: the
 * deadline fires when the test advances it, not after a sleep.
 */
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { describe, it, type TestContext } from 'node:test';
import { CIP22_REASONS, FrameDecoder, decodeMessage, encodeFrame } from '../../src/cip22/codec/index.js';
import { waitFor } from '../helpers/wait.js';
import { startGateway } from './gateway-fixture.js';
import { helloFrame, StillClock } from './inproc-pile.js';

interface Stalled {
  readonly socket: Socket;
  closed: boolean;
}

/** A TCP connection from `source` that sends nothing, ever (no ClientHello). */
async function stalled(t: TestContext, port: number, source: string): Promise<Stalled> {
  const socket = tcpConnect({ host: '127.0.0.1', port, localAddress: source });
  const s: Stalled = { socket, closed: false };
  socket.on('error', () => undefined);
  socket.on('close', () => (s.closed = true));
  t.after(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  return s;
}

const preAuth = (fx: Awaited<ReturnType<typeof startGateway>>): number =>
  fx.gateway.status().preAuth as number;

describe('CIP-22 pre-authentication connections', () => {
  it('300 stalled TCP connections are all closed at the handshake timeout, and a pile gets in while they are held', async (t) => {
    const clock = new StillClock();
    const fx = await startGateway(
      { handshakeTimeoutMs: 5000, maxPreAuth: 400, maxPreAuthPerSource: 16 },
      { clock },
    );
    t.after(() => fx.stop());
    const held: Stalled[] = [];
    for (let i = 0; i < 300; i++) held.push(await stalled(t, fx.port, `127.0.1.${10 + (i % 20)}`));
    await waitFor('300 pre-auth connections', () => preAuth(fx) === 300);

    const pile = fx.pile('p256');
    await pile.connect();
    t.after(() => pile.close());
    assert.equal(fx.gateway.status().authenticated, 1);
    assert.equal(preAuth(fx), 300, 'the authenticated pile no longer counts as pre-auth');
    assert.equal(held.filter((s) => s.closed).length, 0, 'nothing closed them before the deadline');

    clock.advance(5000);
    await waitFor('all 300 closed', () => held.every((s) => s.closed));
    assert.equal(fx.gateway.counter('handshake-timeout'), 300);
    assert.equal(preAuth(fx), 0);
    assert.equal(fx.gateway.status().authenticated, 1, 'the authenticated pile is not affected');
  });

  it('caps at accept: per source, then in total; a pile from another source still gets in', async (t) => {
    const clock = new StillClock();
    const fx = await startGateway({ maxPreAuth: 10, maxPreAuthPerSource: 4 }, { clock });
    t.after(() => fx.stop());
    const one: Stalled[] = [];
    for (let i = 0; i < 6; i++) one.push(await stalled(t, fx.port, '127.0.2.1'));
    await waitFor('2 over the per-source cap closed', () => one.filter((s) => s.closed).length === 2);
    assert.equal(fx.gateway.counter('preauth-per-source'), 2);
    assert.equal(preAuth(fx), 4);

    const pile = fx.pile('p256');
    await pile.connect();
    pile.close();

    for (let i = 0; i < 6; i++) await stalled(t, fx.port, `127.0.2.${2 + (i % 2)}`);
    await waitFor('10 held', () => preAuth(fx) === 10);
    const over = await stalled(t, fx.port, '127.0.2.9');
    await waitFor('over the total cap closed', () => over.closed);
    assert.equal(fx.gateway.counter('preauth-full'), 1);
  });

  it('a connection that finished TLS but never sends HELLO gets AUTH_FAIL handshake-timeout and is closed', async (t) => {
    const clock = new StillClock();
    const fx = await startGateway({ handshakeTimeoutMs: 3000 }, { clock });
    t.after(() => fx.stop());
    const s = tlsConnect({ host: '127.0.0.1', port: fx.port, rejectUnauthorized: false });
    s.on('error', () => undefined);
    t.after(() => s.destroy());
    const decoder = new FrameDecoder({ maxPayload: 65535 });
    const got: number[] = [];
    s.on('data', (b: Buffer) => {
      for (const f of decoder.push(b))
        if (f.kind === 'frame') {
          const m = decodeMessage(f.type, f.payload, '2.0');
          if (m.type === 'AUTH_FAIL') got.push(m.reason);
        }
    });
    let closed = false;
    s.on('close', () => (closed = true));
    await new Promise((resolve) => s.once('secureConnect', resolve));
    await waitFor('session seen', () => fx.gateway.status().sessions === 1);
    clock.advance(3000);
    await waitFor('closed', () => closed);
    assert.deepEqual(got, [CIP22_REASONS['handshake-timeout']]);
    assert.equal(preAuth(fx), 0);
  });

  it('a session past TLS holds one AUTH deadline, the one from TCP accept (no second timer per handshake)', async (t) => {
    const clock = new StillClock();
    const fx = await startGateway({ handshakeTimeoutMs: 3000 }, { clock });
    t.after(() => fx.stop());
    const before = clock.pending;
    const s = tlsConnect({ host: '127.0.0.1', port: fx.port, rejectUnauthorized: false });
    s.on('error', () => undefined);
    t.after(() => s.destroy());
    await new Promise((resolve) => s.once('secureConnect', resolve));
    await waitFor('session seen', () => fx.gateway.status().sessions === 1);
    assert.equal(clock.pending, before + 1, 'the admission deadline only');
    clock.advance(3000);
    await waitFor('refused at the deadline', () => fx.gateway.counter('handshake-timeout') === 1);
  });

  it('a refused peer that neither reads nor closes is destroyed after the grace time', async (t) => {
    const clock = new StillClock();
    const fx = await startGateway({}, { clock });
    t.after(() => fx.stop());
    // allowHalfOpen: the client does not answer the gateway's FIN; only a destroy ends it.
    // (It reads, so that 'end' shows the FIN; not reading would not keep the socket either.)
    const options = { host: '127.0.0.1', port: fx.port, rejectUnauthorized: false, allowHalfOpen: true };
    const s = tlsConnect(options as ConnectionOptions);
    s.on('error', () => undefined);
    t.after(() => s.destroy());
    let ended = false;
    s.on('end', () => (ended = true));
    s.resume();
    await new Promise((resolve) => s.once('secureConnect', resolve));
    s.write(encodeFrame(0x7e, Buffer.from([1, 2, 3])));
    await waitFor('refused and ended', () => ended);
    await waitFor('session gone', () => fx.gateway.status().sessions === 0);
    assert.equal(fx.gateway.status().connections, 1, 'half-open: the socket is still held');
    clock.advance(2000);
    await waitFor('destroyed', () => fx.gateway.status().connections === 0);
    assert.equal(preAuth(fx), 0, 'its pre-auth slot is free again');
  });

  it('aborted handshakes of every kind give their pre-auth slot back: RST mid-TLS, close after ClientHello, close after HELLO', async (t) => {
    const clock = new StillClock();
    const fx = await startGateway({ maxPreAuth: 4, maxPreAuthPerSource: 4 }, { clock });
    t.after(() => fx.stop());
    const tls = (): ReturnType<typeof tlsConnect> => {
      const s = tlsConnect({ host: '127.0.0.1', port: fx.port, rejectUnauthorized: false });
      s.on('error', () => undefined);
      t.after(() => s.destroy());
      return s;
    };
    for (let i = 0; i < 10; i++) {
      const rst = await stalled(t, fx.port, '127.0.3.1');
      rst.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
      rst.socket.resetAndDestroy();
      const hello = tls();
      await new Promise((resolve) => hello.once('connect', resolve));
      hello.destroy();
      const auth = tls();
      await new Promise((resolve) => auth.once('secureConnect', resolve));
      auth.write(helloFrame('pile-x'));
      await waitFor('HELLO answered', () => auth.readableLength > 0 || fx.gateway.status().sessions === 1);
      auth.destroy();
      await waitFor('all three gone', () => fx.gateway.status().connections === 0);
    }
    assert.equal(preAuth(fx), 0);
    assert.equal(fx.gateway.status().sessions, 0);
    const pile = fx.pile('p256');
    await pile.connect();
    t.after(() => pile.close());
    assert.equal(fx.gateway.status().authenticated, 1, 'a pile still gets in: no slot leaked');
  });
});
