/**
 * A scripted S7 peer on a loopback port, for what snap7 cannot produce: COTP refusals,
 * failed negotiation, silence, garbage, and answers replayed from fixture bytes. Each
 * behaviour is a function of the request frame; `pduRef` helpers patch the answer's
 * reference to the request's.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { TpktReader } from '../../src/drivers/s7/protocol.js';

export type Reply = Buffer | 'silence' | 'close';

export interface FakePlcScript {
  /** Answer to the COTP connection request; default a connection confirm. */
  readonly cotp?: (frame: Buffer) => Reply;
  /** Answer to the setup communication; default PDU `pduSize`. */
  readonly setup?: (frame: Buffer) => Reply;
  readonly pduSize?: number;
  /** Answer to every later request. */
  readonly request?: (frame: Buffer) => Reply;
}

export const COTP_CC = Buffer.from('0300001611d00001000100c0010ac1020100c2020102', 'hex');
export const COTP_DR = Buffer.from('0300000b0680000100010a', 'hex');

export function setupReply(ref: number, pduSize: number): Buffer {
  const b = Buffer.from('0300001b02f080320300000000000800000000f0000001000103c0', 'hex');
  b.writeUInt16BE(ref, 11);
  b.writeUInt16BE(pduSize, 25);
  return b;
}

/** The PDU reference of a request frame. */
export function refOf(frame: Buffer): number {
  return frame.readUInt16BE(11);
}

/** Copies `answer` with its PDU reference set to the request's. */
export function withRef(answer: Buffer, request: Buffer): Buffer {
  const b = Buffer.from(answer);
  b.writeUInt16BE(refOf(request), 11);
  return b;
}

export class FakePlc {
  readonly sockets = new Set<Socket>();
  connections = 0;
  requests = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(script: FakePlcScript): Promise<FakePlc> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const plc = new FakePlc(server, typeof address === 'object' && address ? address.port : 0);
    server.on('connection', (socket: Socket) => plc.accept(socket, script));
    return plc;
  }

  private accept(socket: Socket, script: FakePlcScript): void {
    this.connections++;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const reader = new TpktReader();
    let stage = 0;
    socket.on('data', (chunk) => {
      const frames = reader.push(chunk);
      if (!frames.ok) return void socket.destroy();
      for (const frame of frames.value) {
        let reply: Reply;
        if (stage === 0) reply = script.cotp ? script.cotp(frame) : COTP_CC;
        else if (stage === 1)
          reply = script.setup ? script.setup(frame) : setupReply(refOf(frame), script.pduSize ?? 480);
        else {
          this.requests++;
          reply = script.request ? script.request(frame) : 'silence';
        }
        stage++;
        if (reply === 'close') return void socket.destroy();
        if (reply !== 'silence') socket.write(reply);
      }
    });
  }

  /** Drops every open connection (a PLC restart as the client sees it). */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A TPKT/COTP/S7 ack-data frame around the given parameter and data bytes. */
export function ackFrame(
  param: string,
  data: string,
  opts: { ref?: number; errorClass?: number; errorCode?: number } = {},
): Buffer {
  const p = Buffer.from(param.replace(/\s+/g, ''), 'hex');
  const d = Buffer.from(data.replace(/\s+/g, ''), 'hex');
  const header = Buffer.from([0x32, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, opts.errorClass ?? 0, opts.errorCode ?? 0]);
  header.writeUInt16BE(opts.ref ?? 7, 4);
  header.writeUInt16BE(p.length, 6);
  header.writeUInt16BE(d.length, 8);
  const s7 = Buffer.concat([header, p, d]);
  const frame = Buffer.concat([Buffer.from([3, 0, 0, 0, 2, 0xf0, 0x80]), s7]);
  frame.writeUInt16BE(frame.length, 2);
  return frame;
}
