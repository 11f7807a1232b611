/**
 * The cheap check that a PLC is back: a bare TCP connect to its port, closed at once (no
 * ISO/COTP or S7 setup). The I/O port of the device's reachability probe; tests may
 * inject their own.
 */
import { connect } from 'node:net';

export type TcpProbe = (host: string, port: number, timeoutMs: number) => Promise<boolean>;

export const tcpProbe: TcpProbe = (host, port, timeoutMs) =>
  new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
