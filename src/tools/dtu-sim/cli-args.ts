/** Command-line parsing for scripts/dtu-sim.ts (kept here so it is testable). */
import { parseArgs } from 'node:util';
import { parseBytes } from './bytes.js';
import { parseRate, type DtuFaults } from './faults.js';
import type { DtuSimulatorOptions, SerialOptions } from './simulator.js';

export interface DtuSimCliOptions extends DtuSimulatorOptions {
  /** Print stats every N ms (0 = only at exit). */
  statsIntervalMs: number;
  verbose: boolean;
  help: boolean;
}

export const DTU_SIM_USAGE = `Usage: node dist/scripts/dtu-sim.js (--agent HOST:PORT | --listen [HOST:]PORT) --serial PATH [options]

Link:
  --agent HOST:PORT            dial mode: connect to the agent's DTU listener
  --listen [HOST:]PORT         listen mode: the agent dials us (one connection at a time)
  --registration SPEC          registration packet (dial default ascii:DTU-0001; listen default none)
  --heartbeat SPEC             heartbeat packet (default ascii:HB; none = no heartbeats)
  --heartbeat-interval-ms N    heartbeat period (default 30000; 0 = off)
  --reconnect-delay-ms N       dial mode: wait before re-dialling (default 1000)
  --udp                        datagrams instead of TCP (dial mode: SIGUSR1 re-sends from a new port)
  --registration-with-heartbeat  put the registration in front of each heartbeat (UDP DTUs)
  --rebind-every-ms N          UDP dial mode: every N ms send from a new source port (NAT rebinding)
Serial:
  --serial PATH                serial device (e.g. /dev/ttyUSB0, /dev/pts/3)
  --baud N                     baud rate (default 9600)
  --data-bits 5|6|7|8          (default 8)
  --parity none|even|odd|mark|space   (default none)
  --stop-bits 1|1.5|2          (default 1)
  --framing rtu|gap            response framing: Modbus RTU length+CRC (default) or quiet gap only
  --frame-gap-ms N             quiet gap ending an unparsed frame (default 5)
Faults (RATE: always | every:N | p:0.25 | N | 0.25; joinable with ',' e.g. every:5,p:0.1):
  --heartbeat-mid-frame RATE   inject a heartbeat inside responses
  --split RATE                 send responses as several TCP writes
  --split-max-chunks N         at most N pieces per split response (default 4)
  --split-gap-ms N             gap between pieces (default 0 = one event-loop turn)
  --glue RATE                  hold responses; send glued to the next heartbeat or response
  --glue-max-hold-ms N         send a held response alone after N ms (default 10000)
  --garbage RATE               prepend random garbage bytes to responses
  --garbage-bytes MIN[-MAX]    garbage length (default 1-8)
  --delay-ms N                 delay responses by N ms
  --delay-every N              delay every Nth response (default 1)
  --delay-rate RATE            delay the responses this rate hits (random late answers)
  --delay-max-ms N             each delay is drawn in delay-ms..N (default delay-ms)
  --drop-every N               close the TCP link instead of sending every Nth response
  --lose RATE                  do not send a response write (UDP: a lost datagram)
  --duplicate RATE             send a response write twice (UDP: a duplicated datagram)
  --duplicate-delay-ms N       the copy follows N ms later (default 0)
  --silent                     send nothing at all (liveness test); SIGUSR2 toggles it
  --seed N                     PRNG seed for reproducible faults (default random, printed)
Other:
  --stats-interval-ms N        print stats every N ms (default 0: only at exit)
  --verbose                    debug logging
  --help

SPEC: ascii:TEXT (escapes \\r \\n \\t \\0 \\xHH), hex:FE01 / hex:"FE 01", or none.
Signals: SIGUSR1 = redial, SIGUSR2 = toggle silent, SIGINT/SIGTERM = print stats and exit.`;

function int(name: string, text: string | undefined, min = 0): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: want an integer >= ${min}, got "${text}"`);
  return n;
}

function hostPort(name: string, text: string, defaultHost?: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`--${name}: want HOST:PORT, got "${text}"`);
  const host = m[1] || defaultHost;
  if (!host) throw new Error(`--${name}: want HOST:PORT, got "${text}"`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`--${name}: bad port ${port}`);
  return { host, port };
}

export function parseDtuSimArgs(argv: string[]): DtuSimCliOptions {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      agent: { type: 'string' },
      listen: { type: 'string' },
      registration: { type: 'string' },
      heartbeat: { type: 'string' },
      'heartbeat-interval-ms': { type: 'string' },
      'reconnect-delay-ms': { type: 'string' },
      serial: { type: 'string' },
      baud: { type: 'string' },
      'data-bits': { type: 'string' },
      parity: { type: 'string' },
      'stop-bits': { type: 'string' },
      framing: { type: 'string' },
      'frame-gap-ms': { type: 'string' },
      'heartbeat-mid-frame': { type: 'string' },
      split: { type: 'string' },
      'split-max-chunks': { type: 'string' },
      'split-gap-ms': { type: 'string' },
      glue: { type: 'string' },
      'glue-max-hold-ms': { type: 'string' },
      garbage: { type: 'string' },
      'garbage-bytes': { type: 'string' },
      'delay-ms': { type: 'string' },
      'delay-every': { type: 'string' },
      'delay-rate': { type: 'string' },
      'delay-max-ms': { type: 'string' },
      'drop-every': { type: 'string' },
      udp: { type: 'boolean' },
      'registration-with-heartbeat': { type: 'boolean' },
      'rebind-every-ms': { type: 'string' },
      lose: { type: 'string' },
      duplicate: { type: 'string' },
      'duplicate-delay-ms': { type: 'string' },
      silent: { type: 'boolean' },
      seed: { type: 'string' },
      'stats-interval-ms': { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const help = !!v.help;
  if (help)
    return { help, verbose: false, statsIntervalMs: 0, serial: { path: '' }, agent: { host: '', port: 0 } };
  if (!v.agent === !v.listen)
    throw new Error('give exactly one of --agent HOST:PORT or --listen [HOST:]PORT');
  if (!v.serial) throw new Error('--serial PATH is required');

  const serial: SerialOptions = { path: v.serial, baudRate: int('baud', v.baud, 1) ?? 9600 };
  if (v['data-bits'] !== undefined) {
    const d = int('data-bits', v['data-bits'], 5);
    if (d === undefined || d > 8) throw new Error('--data-bits: want 5..8');
    serial.dataBits = d as 5 | 6 | 7 | 8;
  }
  if (v.parity !== undefined) {
    if (!['none', 'even', 'odd', 'mark', 'space'].includes(v.parity))
      throw new Error(`--parity: bad value "${v.parity}"`);
    serial.parity = v.parity as SerialOptions['parity'];
  }
  if (v['stop-bits'] !== undefined) {
    const s = Number(v['stop-bits']);
    if (s !== 1 && s !== 1.5 && s !== 2) throw new Error('--stop-bits: want 1, 1.5 or 2');
    serial.stopBits = s;
  }
  if (v.framing !== undefined && v.framing !== 'rtu' && v.framing !== 'gap')
    throw new Error('--framing: want rtu or gap');

  const faults: DtuFaults = {};
  if (v['heartbeat-mid-frame'] !== undefined) faults.heartbeatMidFrame = parseRate(v['heartbeat-mid-frame']);
  if (v.split !== undefined) faults.split = parseRate(v.split);
  if (v['split-max-chunks'] !== undefined)
    faults.splitMaxChunks = int('split-max-chunks', v['split-max-chunks'], 2);
  if (v['split-gap-ms'] !== undefined) faults.splitGapMs = int('split-gap-ms', v['split-gap-ms']);
  if (v.glue !== undefined) faults.glue = parseRate(v.glue);
  if (v['glue-max-hold-ms'] !== undefined)
    faults.glueMaxHoldMs = int('glue-max-hold-ms', v['glue-max-hold-ms'], 1);
  if (v.garbage !== undefined) faults.garbage = parseRate(v.garbage);
  if (v['garbage-bytes'] !== undefined) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(v['garbage-bytes']);
    if (!m || Number(m[1]) < 1 || (m[2] !== undefined && Number(m[2]) < Number(m[1])))
      throw new Error('--garbage-bytes: want MIN or MIN-MAX (>= 1)');
    faults.garbageMinBytes = Number(m[1]);
    faults.garbageMaxBytes = Number(m[2] ?? m[1]);
  }
  if (v['delay-ms'] !== undefined) faults.delayMs = int('delay-ms', v['delay-ms']);
  if (v['delay-every'] !== undefined) faults.delayEvery = int('delay-every', v['delay-every'], 1);
  if (v['delay-rate'] !== undefined) faults.delayRate = parseRate(v['delay-rate']);
  if (v['delay-max-ms'] !== undefined) faults.delayMaxMs = int('delay-max-ms', v['delay-max-ms']);
  if (v['drop-every'] !== undefined) faults.dropEvery = int('drop-every', v['drop-every'], 1);
  if (v.silent) faults.silent = true;
  if (v.lose !== undefined) faults.lose = parseRate(v.lose);
  if (v.duplicate !== undefined) faults.duplicate = parseRate(v.duplicate);
  if (v['duplicate-delay-ms'] !== undefined)
    faults.duplicateDelayMs = int('duplicate-delay-ms', v['duplicate-delay-ms']);

  const out: DtuSimCliOptions = {
    serial,
    faults,
    help: false,
    verbose: !!v.verbose,
    statsIntervalMs: int('stats-interval-ms', v['stats-interval-ms']) ?? 0,
  };
  if (v.agent) out.agent = hostPort('agent', v.agent);
  else {
    const l = hostPort('listen', v.listen!, '0.0.0.0');
    out.listen = { host: l.host, port: l.port };
  }
  if (v.registration !== undefined) {
    parseBytes(v.registration); // validate early
    out.registration = v.registration;
  }
  if (v.heartbeat !== undefined) {
    parseBytes(v.heartbeat);
    out.heartbeat = v.heartbeat;
  }
  const hb = int('heartbeat-interval-ms', v['heartbeat-interval-ms']);
  if (hb !== undefined) out.heartbeatIntervalMs = hb;
  const rd = int('reconnect-delay-ms', v['reconnect-delay-ms']);
  if (rd !== undefined) out.reconnectDelayMs = rd;
  if (v.udp) out.udp = true;
  if (v['registration-with-heartbeat']) out.registrationWithHeartbeat = true;
  const rebind = int('rebind-every-ms', v['rebind-every-ms'], 1);
  if (rebind !== undefined) out.rebindEveryMs = rebind;
  if (v.framing) out.framing = v.framing;
  const gap = int('frame-gap-ms', v['frame-gap-ms'], 1);
  if (gap !== undefined) out.frameGapMs = gap;
  const seed = int('seed', v.seed);
  if (seed !== undefined) out.seed = seed;
  return out;
}
