/**
 * A real S7 peer for tests: node-snap7's S7Server on an ephemeral loopback port, serving
 * DB/M/I/Q areas from buffers the test owns (snap7 keeps its own copy: read it back with
 * `area()`, change it with `set()`). Start/stop/restart on the same port.
 */
import { createRequire } from 'node:module';
import { freePort } from './net.js';

const require = createRequire(import.meta.url);

interface Snap7Server {
  SetParam(param: number, value: number): boolean;
  RegisterArea(area: number, indexOrBuffer: number | Buffer, buffer?: Buffer): boolean;
  UnregisterArea(area: number, index?: number): boolean;
  GetArea(area: number, index?: number): Buffer;
  SetArea(area: number, indexOrBuffer: number | Buffer, buffer?: Buffer): void;
  StartTo(ip: string): boolean | number;
  Stop(): boolean | number;
  LastError(): number;
  ErrorText(code: number): string;
  readonly LocalPort: number;
  readonly srvAreaDB: number;
  readonly srvAreaMK: number;
  readonly srvAreaPE: number;
  readonly srvAreaPA: number;
  readonly srvAreaTM: number;
  readonly srvAreaCT: number;
}

const snap7 = require('node-snap7') as { S7Server: new () => Snap7Server };

export type AreaName = 'DB' | 'M' | 'I' | 'Q' | 'T' | 'C';

export class TestS7Server {
  private readonly server = new snap7.S7Server();
  private running = false;

  private constructor(readonly port: number) {
    if (!this.server.SetParam(this.server.LocalPort, port))
      throw new Error('snap7: SetParam(LocalPort) failed');
  }

  static async start(): Promise<TestS7Server> {
    const s = new TestS7Server(await freePort());
    s.start();
    return s;
  }

  private code(area: AreaName): number {
    const s = this.server;
    return {
      DB: s.srvAreaDB,
      M: s.srvAreaMK,
      I: s.srvAreaPE,
      Q: s.srvAreaPA,
      T: s.srvAreaTM,
      C: s.srvAreaCT,
    }[area];
  }

  /** Registers an area; `index` is the DB number (ignored for the other areas). */
  register(area: AreaName, index: number, buffer: Buffer): void {
    const ok =
      area === 'DB'
        ? this.server.RegisterArea(this.code(area), index, buffer)
        : this.server.RegisterArea(this.code(area), buffer);
    if (!ok) throw new Error(`snap7: RegisterArea(${area}${index}) failed`);
  }

  unregister(area: AreaName, index: number): void {
    if (area === 'DB') this.server.UnregisterArea(this.code(area), index);
    else this.server.UnregisterArea(this.code(area));
  }

  area(area: AreaName, index = 0): Buffer {
    return area === 'DB' ? this.server.GetArea(this.code(area), index) : this.server.GetArea(this.code(area));
  }

  set(area: AreaName, index: number, buffer: Buffer): void {
    if (area === 'DB') this.server.SetArea(this.code(area), index, buffer);
    else this.server.SetArea(this.code(area), buffer);
  }

  start(): void {
    if (this.running) return;
    const ok = this.server.StartTo('127.0.0.1');
    if (ok === false)
      throw new Error(`snap7: StartTo failed: ${this.server.ErrorText(this.server.LastError())}`);
    this.running = true;
  }

  stop(): void {
    if (!this.running) return;
    this.server.Stop();
    this.running = false;
  }
}
