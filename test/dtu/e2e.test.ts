/**
 * DTU links over real sockets, end to end: the hub's limits on the sockets it accepts, and
 * client mode, where the agent dials the DTU simulator that bridges a socat pty to pymodbus
 * RTU slaves. Server mode (the DTU dials the agent) is in e2e-server.test.ts.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { ManualClock, systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { dtuSchema } from '../../src/drivers/modbus/dtu/config.js';
import { DtuHub, type DtuStatus } from '../../src/drivers/modbus/dtu/hub.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import { startDtuSimulator } from '../../src/tools/dtu-sim/simulator.js';
import { waitFor } from '../helpers/wait.js';
import { BAUD, EXPECT1, EXPECT2, serialSlaves, startDevices } from './e2e-rig.js';

const serial = serialSlaves();

describe('DTU hub limits', () => {
  it('maxLinks: connections beyond it are refused and counted', async (t) => {
    const hub = new DtuHub(
      dtuSchema.parse({
        server: { host: '127.0.0.1', port: 0, maxLinks: 1 },
        links: [{ name: 'a', mode: 'server', registration: { ascii: 'A' } }],
      }),
      { clock: systemClock, logger: silentLogger, random: Math.random },
    );
    await hub.start();
    t.after(() => hub.stop());
    const port = hub.address()!.port;
    const first = connect({ host: '127.0.0.1', port });
    first.on('error', () => undefined);
    first.write('A');
    await waitFor('a up', () => hub.status().a!.up);
    const second = connect({ host: '127.0.0.1', port });
    second.on('error', () => undefined);
    await waitFor('second closed', () => second.destroyed || second.readableEnded, 3000);
    assert.equal(hub.serverStatus().rejectedMaxLinks, 1);
    assert.equal(hub.status().a!.up, true);
    first.destroy();
  });

  it('stop() closes registered links and the listener', async () => {
    const hub = new DtuHub(
      dtuSchema.parse({
        server: { host: '127.0.0.1', port: 0 },
        links: [{ name: 'a', mode: 'server', registration: { ascii: 'A' } }],
      }),
      { clock: systemClock, logger: silentLogger, random: Math.random },
    );
    await hub.start();
    const s = connect({ host: '127.0.0.1', port: hub.address()!.port });
    s.on('error', () => undefined);
    s.write('A');
    await waitFor('a up', () => hub.status().a!.up);
    await hub.stop();
    await waitFor('closed', () => s.destroyed || s.readableEnded, 3000);
    assert.equal(hub.serverStatus().listening, false);
    assert.equal(hub.status().a!.up, false);
  });
});

describe('DTU client mode (the agent dials a DTU that listens)', () => {
  it('reads through the link; re-dials after the peer closes', async (t) => {
    const sim = await startDtuSimulator({
      listen: { host: '127.0.0.1', port: 0 },
      serial: { path: serial.pty.a, baudRate: BAUD },
      heartbeat: 'hex:FE',
      heartbeatIntervalMs: 100,
      faults: { split: { every: 2 }, heartbeatMidFrame: { every: 3 } },
      seed: 3,
    });
    t.after(() => sim.close());
    const hub = new DtuHub(
      dtuSchema.parse({
        links: [
          {
            name: 'south',
            mode: 'client',
            host: '127.0.0.1',
            port: sim.address()!.port,
            heartbeat: { hex: 'FE' },
            heartbeatIntervalMs: 100,
            reconnect: { initialMs: 100, maxMs: 400, jitter: 0.2 },
          },
        ],
      }),
      { clock: systemClock, logger: silentLogger, random: Math.random },
    );
    await hub.start();
    t.after(() => hub.stop());
    const fam = createModbusFamily(
      { clock: systemClock, logger: silentLogger, random: Math.random },
      { dtu: hub },
    );
    t.after(() => fam.close());
    const devs = await startDevices(fam, 'south');
    await waitFor('south connected', () => hub.status().south!.up);
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(await devs.poll1(), EXPECT1);
      assert.deepEqual(await devs.poll2(), EXPECT2);
    }
    await sim.redial(); // drops our connection
    await waitFor('south down', () => !hub.status().south!.up || hub.status().south!.registrations > 1);
    await waitFor(
      'south re-dialled',
      () => hub.status().south!.up && hub.status().south!.registrations >= 2,
      5000,
    );
    assert.deepEqual(await devs.poll1(), EXPECT1);
    assert.deepEqual(await devs.poll2(), EXPECT2);
    assert.ok(hub.status().south!.heartbeats > 0);
    // heartbeat-count-excludes-data-bytes: register e holds 0x00FE, the heartbeat byte; the
    // hub may miss heartbeats sent while the link was being re-dialled, never count more.
    assert.ok(
      hub.status().south!.heartbeats <= sim.stats().heartbeatsSent,
      `${hub.status().south!.heartbeats} counted > ${sim.stats().heartbeatsSent} sent`,
    );
  });

  it('stop() leaves no timers or sockets behind while a dial is failing', async () => {
    // A clock that moves only when told: re-dials happen when the test advances it, and
    // whatever stop() left armed would fire on the final advance.
    const clock = new ManualClock();
    const hub = new DtuHub(
      dtuSchema.parse({
        links: [
          {
            name: 'gone',
            mode: 'client',
            host: '127.0.0.1',
            port: 1,
            reconnect: { initialMs: 50, maxMs: 100 },
          },
        ],
      }),
      { clock, logger: silentLogger, random: () => 0.5 },
    );
    await hub.start();
    const gone = (): DtuStatus => hub.status().gone!;
    await waitFor('dial 1 refused', () => gone().connectFailures === 1 && gone().nextDialInMs, 3000);
    await clock.advance(gone().nextDialInMs!);
    await waitFor('dial 2 refused', () => gone().connectFailures === 2 && gone().nextDialInMs, 3000);
    // The refused socket took its connect-timeout timer along: only the re-dial is armed.
    assert.equal(clock.pendingCount, 1, 'the re-dial timer');
    await hub.stop();
    // Every dial arms a connect timeout until its socket connects or closes: no timer, no socket.
    assert.equal(clock.pendingCount, 0, 'no re-dial timer, no dial in flight');
    assert.equal(gone().nextDialInMs, undefined);
    await clock.advance(60_000);
    assert.equal(gone().connectFailures, 2, 'no dial after stop()');
  });

  it('stop() aborts a dial in flight: its socket and connect timeout go with it', async () => {
    const clock = new ManualClock();
    const hub = new DtuHub(
      dtuSchema.parse({
        links: [{ name: 'gone', mode: 'client', host: '127.0.0.1', port: 1 }],
      }),
      { clock, logger: silentLogger, random: () => 0.5 },
    );
    await hub.start(); // the first dial starts at once; its refusal comes in a later turn
    assert.equal(clock.pendingCount, 1, 'the connect timeout of the dial in flight');
    await hub.stop();
    assert.equal(clock.pendingCount, 0, 'connect timeout cancelled, socket destroyed');
    await clock.advance(60_000);
    assert.equal(hub.status().gone!.connectFailures, 0, 'an aborted dial is not a failure');
    assert.equal(hub.status().gone!.nextDialInMs, undefined);
  });
});
