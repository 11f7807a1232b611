/**
 * The manual-clock rig the late-answer and stale-byte unit tests share: the agent's own RTU
 * framer over a scripted link (each request's reply bytes arrive `afterMs` after it), under
 * a Line with the production backoff shape, and a settle loop that advances the clock.
 */
import assert from 'node:assert/strict';
import type { Clock, ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { Line } from '../../src/drivers/modbus/line.js';
import type { ModbusTransport } from '../../src/drivers/modbus/port.js';
import { withCrc } from '../../src/drivers/modbus/rtu/crc.js';
import { RtuStreamTransport, type StreamPort } from '../../src/drivers/modbus/rtu/stream-transport.js';

/** What the link delivers after a request: chunks, each `afterMs` after the request. */
export type Reply = ReadonlyArray<{ readonly afterMs: number; readonly bytes: Buffer }>;

/** The slave's FC3 answer to a read request, register `a` holding `valueOf(a)`. */
export function answerFor(req: Buffer, valueOf: (address: number) => number): Buffer {
  const address = req.readUInt16BE(2);
  const count = req.readUInt16BE(4);
  const data = Buffer.alloc(2 * count);
  for (let i = 0; i < count; i++) data.writeUInt16BE(valueOf(address + i), 2 * i);
  return Buffer.from(withCrc(Uint8Array.from([req[0]!, req[1]!, 2 * count, ...data])));
}

/** A Line over `transport` with the backoff and random the agent uses in tests. */
export function testLine(key: string, clock: Clock, transport: ModbusTransport): Line {
  return new Line({
    key,
    kind: 'rtu',
    gapMs: 2,
    backoff: { initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0 },
    clock,
    random: () => 0.5,
    logger: silentLogger,
    transport,
  });
}

export interface ScriptedLink {
  readonly transport: RtuStreamTransport;
  /** Every request written, in order. */
  readonly written: Buffer[];
  /** Set `up` false to take the link down. */
  readonly link: { up: boolean };
}

/** A stream transport whose port replies to the i-th request with `reply(req, i)`. */
export function scriptedLink(
  name: string,
  clock: ManualClock,
  reply: (req: Buffer, i: number) => Reply,
): ScriptedLink {
  const written: Buffer[] = [];
  const link = { up: true };
  const port: StreamPort = {
    get up(): boolean {
      return link.up;
    },
    write: (req: Buffer) => {
      written.push(req);
      for (const { afterMs, bytes } of reply(req, written.length - 1))
        clock.setTimeout(() => transport.data(bytes), afterMs);
    },
  };
  const transport = new RtuStreamTransport({ name, clock, port });
  return { transport, written, link };
}

/** Advances the manual clock a millisecond at a time until `p` settles. */
export async function settle<T>(clock: ManualClock, p: Promise<T>): Promise<T> {
  let done = false;
  let value: T | undefined;
  void p.then((v) => {
    done = true;
    value = v;
  });
  for (let i = 0; !done && i < 100_000; i++) await clock.advance(1);
  assert.ok(done, 'did not settle');
  return value as T;
}
