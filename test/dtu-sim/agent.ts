/** A plain TCP server that plays the agent for the DTU simulator tests: it records every chunk. */
import { createServer, type Server, type Socket } from 'node:net';
import { waitFor } from '../helpers/wait.js';

export interface Chunk {
  at: number;
  data: Buffer;
}

export class AgentConn {
  readonly chunks: Chunk[] = [];
  closed = false;
  constructor(readonly sock: Socket) {
    sock.on('data', (data: Buffer) => this.chunks.push({ at: Date.now(), data }));
    sock.on('error', () => undefined);
    sock.once('close', () => (this.closed = true));
  }
  bytes(from = 0): Buffer {
    return Buffer.concat(this.chunks.map((c) => c.data)).subarray(from);
  }
  get length(): number {
    return this.chunks.reduce((n, c) => n + c.data.length, 0);
  }
  /** Writes a request and waits until at least `expect` new bytes arrived; returns them and their chunks. */
  async exchange(
    request: Buffer,
    expect: number,
    timeoutMs = 3000,
  ): Promise<{ bytes: Buffer; chunks: Chunk[]; sentAt: number }> {
    const mark = this.length;
    const firstChunk = this.chunks.length;
    const sentAt = Date.now();
    this.sock.write(request);
    await waitFor(`${expect} response bytes`, () => this.length - mark >= expect, timeoutMs, 5);
    return { bytes: this.bytes(mark), chunks: this.chunks.slice(firstChunk), sentAt };
  }
}

export class FakeAgent {
  readonly conns: AgentConn[] = [];
  private constructor(
    readonly server: Server,
    readonly port: number,
  ) {}

  static start(): Promise<FakeAgent> {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const agent = new FakeAgent(server, typeof address === 'object' && address ? address.port : 0);
        server.on('connection', (sock) => agent.conns.push(new AgentConn(sock)));
        resolve(agent);
      });
    });
  }

  /** Waits for the n-th (1-based) connection. */
  conn(n = 1, timeoutMs = 5000): Promise<AgentConn> {
    return waitFor(`agent connection #${n}`, () => this.conns[n - 1], timeoutMs, 5);
  }

  close(): Promise<void> {
    for (const c of this.conns) c.sock.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Read holding registers request. */
export function readHolding(unit: number, address: number, count: number): Buffer {
  return withCrc([unit, 0x03, address >> 8, address & 0xff, count >> 8, count & 0xff]);
}

/** Expected response to readHolding for these register values. */
export function holdingResponse(unit: number, values: number[]): Buffer {
  const body = [unit, 0x03, values.length * 2];
  for (const v of values) body.push(v >> 8, v & 0xff);
  return withCrc(body);
}

/** CRC16/Modbus, local to the tests (independent of the simulator's own). */
export function crc16(bytes: number[]): number {
  let crc = 0xffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >> 1) ^ 0xa001 : crc >> 1;
  }
  return crc;
}

export function withCrc(bytes: number[]): Buffer {
  const crc = crc16(bytes);
  return Buffer.from([...bytes, crc & 0xff, crc >> 8]);
}
