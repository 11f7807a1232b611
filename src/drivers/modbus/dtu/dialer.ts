/** The dialler of a client DTU link (a DTU that listens): connect, attach, back off, again. */
import { connect as netConnect } from 'node:net';
import type { Clock } from '../../../core/clock.js';
import type { Logger } from '../../../core/ports.js';
import type { DtuLink } from './link.js';

export interface DialDeps {
  readonly clock: Clock;
  readonly log: Logger;
  /**
   * The link is still the hub's: false once the hub stopped or a reload replaced or removed
   * it, so a link never comes back through its own dialler.
   */
  readonly current: () => boolean;
}

export function dialClientLink(link: DtuLink, deps: DialDeps): void {
  const cfg = link.config;
  if (!deps.current() || cfg.mode !== 'client' || cfg.transport === 'udp') return;
  link.dialTimer = undefined;
  link.nextDialInMs = undefined;
  const socket = netConnect({ host: cfg.host, port: cfg.port });
  let connected = false;
  const timer = deps.clock.setTimeout(() => {
    socket.destroy(new Error(`connect timed out after ${cfg.connectTimeoutMs} ms`));
  }, cfg.connectTimeoutMs);
  link.abortDial = () => {
    timer.cancel();
    socket.destroy();
  };
  socket.once('connect', () => {
    link.abortDial = undefined;
    timer.cancel();
    if (!deps.current()) return void socket.destroy();
    connected = true;
    link.backoff!.reset();
    link.attach(socket, Buffer.alloc(0));
  });
  socket.on('error', (err) => {
    if (!connected) deps.log.debug({ dtu: cfg.name, err: err.message }, 'DTU dial failed');
  });
  socket.once('close', () => {
    timer.cancel();
    if (!deps.current()) return; // aborted by stop() or a reload: not a failure
    link.abortDial = undefined;
    if (!connected) link.counters.connectFailures++;
    const ms = link.backoff!.next();
    link.nextDialInMs = ms;
    deps.log.warn({ dtu: cfg.name, host: cfg.host, port: cfg.port, inMs: ms }, 'DTU dial scheduled');
    link.dialTimer = deps.clock.setTimeout(() => dialClientLink(link, deps), ms);
  });
}
