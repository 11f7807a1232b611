/**
 * One remote address of a UDP socket dressed as the small part of a net.Socket that the
 * DTU link and the DTU simulator use (`write`, `destroy`, `'data'`, `'close'`,
 * `remoteAddress`/`remotePort`): each `write` is one datagram to the peer, each
 * `deliver` one datagram from it. The code that owns the dgram socket routes datagrams
 * to it and may move it to a new address (NAT rebinding). Lets the stream code (liveness,
 * keepalive, heartbeats, the RTU framer) run unchanged over datagrams.
 */
import { EventEmitter } from 'node:events';

export type DatagramSend = (data: Buffer, port: number, address: string) => void;

export class DatagramPeer extends EventEmitter {
  destroyed = false;
  writable = true;

  constructor(
    private readonly send: DatagramSend,
    public remoteAddress: string,
    public remotePort: number,
  ) {
    super();
  }

  /** One datagram to the peer. */
  write(data: Buffer): boolean {
    if (this.destroyed) return false;
    this.send(data, this.remotePort, this.remoteAddress);
    return true;
  }

  /** One datagram from the peer. */
  deliver(data: Buffer): void {
    if (!this.destroyed) this.emit('data', data);
  }

  /** The peer now sends from (and is answered at) another address. */
  retarget(address: string, port: number): void {
    this.remoteAddress = address;
    this.remotePort = port;
  }

  /** Ends the association: 'close' is emitted once, at once (there is nothing to flush). */
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.writable = false;
    this.emit('close');
    return this;
  }

  // A datagram association has no Nagle and no TCP keepalive.
  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }
}
