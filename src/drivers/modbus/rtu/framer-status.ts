/**
 * The line status of the agent's RTU framer over a local serial port (serial-stream.ts),
 * in its own module: the stand-in of an RTU line (serial-deferred.ts) shows the same
 * status, all zero, before the framer's module has loaded.
 */
import type { StreamCounters } from './stream-receiver.js';

export type FramerCounters = Pick<
  StreamCounters,
  'requests' | 'responses' | 'exceptions' | 'timeouts' | 'echoes' | 'crcErrors' | 'garbageBytes'
>;

export function framerStatus(c: Readonly<FramerCounters>): Record<string, unknown> {
  return {
    framer: 'agent-rtu',
    echoSuppression: true,
    requests: c.requests,
    responses: c.responses,
    exceptions: c.exceptions,
    timeouts: c.timeouts,
    echoes: c.echoes,
    crcErrors: c.crcErrors,
    garbageBytes: c.garbageBytes,
  };
}

/** A framer that has sent and received nothing yet. */
export function idleFramerStatus(): Record<string, unknown> {
  return framerStatus({
    requests: 0,
    responses: 0,
    exceptions: 0,
    timeouts: 0,
    echoes: 0,
    crcErrors: 0,
    garbageBytes: 0,
  });
}
