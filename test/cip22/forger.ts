/**
 * A forged-chain flood for the event-loop lag test, run as a child process so that its
 * own CPU does not land on the gateway's event loop. Each of CLIENTS loops: TLS connect
 * from its own 127.0.4.x address, HELLO, then an AUTH_RESP whose pile certificate has a
 * different forged signature every time (no cache can help: every one is a fresh SM2
 * verification), until the parent kills it. Prints "attempts N" lines on stdout.
 *
 * argv: port clients pileDer issuerDer deviceId
 */
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { connect } from 'node:tls';
import { FrameDecoder, decodeMessage, encodeFrame, encodeMessage } from '../../src/cip22/codec/index.js';
import { createEphemeral } from '../../src/cip22/identity/index.js';

const [portText, clientsText, pilePath, issuerPath, deviceId] = process.argv.slice(2);
const port = Number(portText);
const pile = readFileSync(pilePath ?? '');
const issuer = readFileSync(issuerPath ?? '');
const id = deviceId ?? '';
let counter = 0;
let attempts = 0;

const frame = (msg: Parameters<typeof encodeMessage>[0]): Buffer => {
  const { type, payload } = encodeMessage(msg);
  return encodeFrame(type, payload);
};
const hello = frame({ type: 'HELLO', deviceId: id, versions: [[2, 0]], identityAlg: 1 });
const ephemeral = createEphemeral('sm2').publicKey;

/** The pile certificate with its signature's last bytes changed: parses, never verifies. */
function forged(): Buffer {
  const copy = Buffer.from(pile);
  copy.writeUInt16BE(++counter & 0xffff, copy.length - 3);
  return copy;
}

function attempt(source: string): Promise<void> {
  return new Promise((resolve) => {
    const tcp = tcpConnect({ host: '127.0.0.1', port, localAddress: source });
    tcp.on('error', () => undefined);
    const s = connect({ socket: tcp, rejectUnauthorized: false });
    const decoder = new FrameDecoder({ maxPayload: 65535 });
    const done = (): void => {
      s.destroy();
      resolve();
    };
    s.on('error', done);
    s.on('close', done);
    s.once('secureConnect', () => s.write(hello));
    s.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        if (f.kind !== 'frame') return done();
        const m = decodeMessage(f.type, f.payload, '2.0');
        if (m.type === 'CHALLENGE') {
          s.write(
            frame({
              type: 'AUTH_RESP',
              signature: Buffer.alloc(70, 1),
              pileCert: forged(),
              issuerCert: issuer,
              pileEphemeralPub: ephemeral,
              policyHash: Buffer.alloc(32),
            }),
          );
        } else {
          attempts++;
          return done();
        }
      }
    });
  });
}

async function client(i: number): Promise<void> {
  const source = `127.0.4.${10 + i}`;
  for (;;) await attempt(source);
}

for (let i = 0; i < Number(clientsText); i++) void client(i);
setInterval(() => process.stdout.write(`attempts ${attempts}\n`), 200);
