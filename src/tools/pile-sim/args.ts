/** `edge-agent pile-sim` / scripts/pile-sim.ts arguments: parsed and checked, no I/O. */
import { parseArgs } from 'node:util';

export const PILE_SIM_USAGE = `edge-agent pile-sim — CIP-22 reference piles against a gateway

Usage:
  edge-agent pile-sim --port PORT --ca FILE (--cert FILE --key FILE --issuer FILE | --piles DIR)
                      [options]

Gateway and identity:
  --host HOST            gateway address (default 127.0.0.1)
  --port PORT            gateway port (required)
  --ca FILE              PEM of the station CA the gateway certificate chains to (required)
  --cert FILE            pile certificate (PEM or DER; CN = device id)   } one pile
  --key FILE             pile private key (PEM, PKCS#8)                  }
  --issuer FILE          issuing CA certificate (PEM or DER); with --piles, the default
                         for piles without their own NAME.issuer.pem
  --piles DIR            a directory of piles: NAME.pem + NAME.key.pem (+ NAME.issuer.pem),
                         as made by scripts/cip22-certs.sh pile DIR/NAME
  --alg sm2|ecdsa-p256   identity algorithm (default: from each certificate's key)
  --count N              run the first N piles of --piles (default: all)
Behaviour:
  --status-ms MS         STATUS interval per pile (default 1000)
  --duration-s S         run S seconds, then wait for outstanding ACKs and exit (default:
                         until SIGINT/SIGTERM)
  --session START:STOP:WH   a charging session from START to STOP seconds delivering WH
                         watt-hours (repeatable)
  --fault AT:CODE        send a FAULT frame with CODE at AT seconds (repeatable)
  --drop AT              drop the connection at AT seconds; reconnects after 1 s (repeatable)
  --state-dir DIR        persistent msg_seq and unacknowledged frames per pile
                         (DIR/<device>.json); frames not ACKed are resent after reconnect
Output: one JSON summary line on stdout ({piles, sent, acked, unacked, reconnects,
refused}); progress and errors on stderr. A pile refused by AUTH_FAIL stops trying, except
for shutting-down, internal-error and storage-unavailable (it reconnects after 1 s) and
rate-limited, too-many-sessions and handshake-timeout (it backs off: 1 s doubling to 60 s,
with jitter). Exit 0,
or 1 when frames stayed unacknowledged or a pile was refused, 2 on bad arguments.`;

export interface ChargingScript {
  readonly startS: number;
  readonly stopS: number;
  readonly energyWh: number;
}

export interface PileSimArgs {
  readonly host: string;
  readonly port: number;
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
  readonly issuer?: string;
  readonly piles?: string;
  readonly alg?: 'sm2' | 'ecdsa-p256';
  readonly count?: number;
  readonly statusMs: number;
  readonly durationS?: number;
  readonly sessions: readonly ChargingScript[];
  readonly faults: readonly { readonly atS: number; readonly code: number }[];
  readonly drops: readonly number[];
  readonly stateDir?: string;
}

const PILE_SIM_OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  issuer: { type: 'string' },
  piles: { type: 'string' },
  alg: { type: 'string' },
  count: { type: 'string' },
  'status-ms': { type: 'string' },
  'duration-s': { type: 'string' },
  session: { type: 'string', multiple: true },
  fault: { type: 'string', multiple: true },
  drop: { type: 'string', multiple: true },
  'state-dir': { type: 'string' },
} as const;

function num(name: string, text: string | undefined, min: number, integer = true): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
    throw new Error(`--${name}: expected ${integer ? 'an integer' : 'a number'} >= ${min}, got "${text}"`);
  return n;
}

function parts(name: string, text: string, count: 2): [number, number];
function parts(name: string, text: string, count: 3): [number, number, number];
function parts(name: string, text: string, count: number): number[] {
  const p = text.split(':');
  if (p.length !== count)
    throw new Error(`--${name}: expected ${count} fields separated by ':', got "${text}"`);
  return p.map((x) => num(name, x, 0, false) as number);
}

export function parsePileSimArgs(argv: string[]): PileSimArgs {
  const { values } = parseArgs({
    args: argv,
    options: PILE_SIM_OPTIONS,
    strict: true,
    allowPositionals: false,
  });
  const port = num('port', values.port, 1);
  if (port === undefined || port > 65535) throw new Error('--port: required, 1..65535');
  if (!values.ca) throw new Error('--ca: required');
  if (!values.piles && !(values.cert && values.key && values.issuer))
    throw new Error('give --piles DIR, or --cert, --key and --issuer');
  if (values.alg !== undefined && values.alg !== 'sm2' && values.alg !== 'ecdsa-p256')
    throw new Error(`--alg: sm2 or ecdsa-p256, got "${values.alg}"`);
  const sessions = (values.session ?? []).map((s) => {
    const [startS, stopS, energyWh] = parts('session', s, 3);
    if (stopS <= startS) throw new Error(`--session: STOP must be after START in "${s}"`);
    return { startS, stopS, energyWh: Math.round(energyWh) };
  });
  const faults = (values.fault ?? []).map((f) => {
    const [atS, code] = parts('fault', f, 2);
    return { atS, code: Math.round(code) };
  });
  return {
    host: values.host ?? '127.0.0.1',
    port,
    ca: values.ca,
    cert: values.cert,
    key: values.key,
    issuer: values.issuer,
    piles: values.piles,
    alg: values.alg,
    count: num('count', values.count, 1),
    statusMs: num('status-ms', values['status-ms'], 10) ?? 1000,
    durationS: num('duration-s', values['duration-s'], 0, false),
    sessions,
    faults,
    drops: (values.drop ?? []).map((d) => num('drop', d, 0, false) as number),
    stateDir: values['state-dir'],
  };
}
