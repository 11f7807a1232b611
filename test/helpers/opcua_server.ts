/**
 * Child process of the OPC UA test peer (test/helpers/opcua.ts): a node-opcua server with
 * the variables named in argv[2] (JSON), as `ns=1;s=<name>`. It prints one JSON line when
 * listening ({ port, endpoint, certSha256 }) and then answers JSON lines on stdin:
 * { op: 'set', name, value } · { op: 'status', name, status } (e.g. 'BadSensorFailure')
 * · { op: 'get', name } · { op: 'add', variable } (a node added at run time, as a PLC program
 * download adds variables). A separate process, so a test can kill it like a crashed server.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import {
  DataType,
  MessageSecurityMode,
  SecurityPolicy,
  StatusCodes,
  Variant,
  type DataValue,
  type StatusCode,
} from 'node-opcua-client';
import { OPCUAServer } from 'node-opcua-server';

// The server's own certificate manager package (a dependency of node-opcua-server).
const { OPCUACertificateManager } = createRequire(import.meta.resolve('node-opcua-server'))(
  'node-opcua-certificate-manager',
) as typeof import('node-opcua-certificate-manager');

interface UAVariable {
  setValueFromSource(variant: Variant, status: StatusCode): void;
  readValue(): DataValue;
}

export interface ServerVariable {
  readonly name: string;
  readonly dataType: 'Boolean' | 'Int16' | 'UInt16' | 'Int32' | 'UInt32' | 'Float' | 'Double' | 'String';
  readonly value: number | boolean | string;
  readonly writable?: boolean;
  /** A write outside [min, max] is stored clamped and answered GoodClamped (as a PLC limit does). */
  readonly clamp?: readonly [number, number];
}

export interface ServerOptions {
  readonly port: number;
  readonly pkiDir: string;
  readonly variables: readonly ServerVariable[];
  readonly users?: Readonly<Record<string, string>>;
  readonly allowAnonymous?: boolean;
  /** A server that refuses monitored items past this many (BadTooManyMonitoredItems). */
  readonly maxMonitoredItemsPerSubscription?: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as ServerOptions;

const server = new OPCUAServer({
  port: options.port,
  hostname: '127.0.0.1',
  resourcePath: '/edge',
  serverCertificateManager: new OPCUACertificateManager({
    rootFolder: `${options.pkiDir}/server`,
    automaticallyAcceptUnknownCertificate: true,
  }),
  userCertificateManager: new OPCUACertificateManager({
    rootFolder: `${options.pkiDir}/user`,
    automaticallyAcceptUnknownCertificate: true,
  }),
  securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
  securityPolicies: [
    SecurityPolicy.None,
    SecurityPolicy.Basic256Sha256,
    SecurityPolicy.Aes128_Sha256_RsaOaep,
    SecurityPolicy.Aes256_Sha256_RsaPss,
  ],
  allowAnonymous: options.allowAnonymous ?? true,
  ...(options.maxMonitoredItemsPerSubscription
    ? { serverCapabilities: { maxMonitoredItemsPerSubscription: options.maxMonitoredItemsPerSubscription } }
    : {}),
  userManager: {
    isValidUser: (user: string, password: string) => options.users?.[user] === password,
  },
});

await server.initialize();
const addressSpace = server.engine.addressSpace!;
const ns = addressSpace.getOwnNamespace();
const plc = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'PLC' });
const nodes = new Map<string, { node: UAVariable; dataType: DataType }>();
function addVariable(v: ServerVariable): void {
  const dataType = DataType[v.dataType];
  const node: UAVariable = ns.addVariable({
    componentOf: plc,
    nodeId: `s=${v.name}`,
    browseName: v.name,
    dataType: v.dataType,
    accessLevel: v.writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
    userAccessLevel: v.writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
  });
  node.setValueFromSource(new Variant({ dataType, value: v.value }), StatusCodes.Good);
  if (v.clamp) clampWrites(node, dataType, v.clamp);
  nodes.set(v.name, { node, dataType });
}
for (const v of options.variables) addVariable(v);
await server.start();

/** Writes outside `[min, max]` store the nearest limit and answer GoodClamped. */
function clampWrites(node: UAVariable, dataType: DataType, [min, max]: readonly [number, number]): void {
  const writable = node as unknown as {
    writeValue: (context: unknown, dataValue: DataValue, ...rest: unknown[]) => unknown;
  };
  const original = writable.writeValue.bind(node);
  writable.writeValue = (context: unknown, dataValue: DataValue, ...rest: unknown[]) => {
    const asked = dataValue.value.value as number;
    const kept = Math.min(max, Math.max(min, asked));
    if (kept === asked) return original(context, dataValue, ...rest);
    node.setValueFromSource(new Variant({ dataType, value: kept }), StatusCodes.Good);
    const callback = rest.at(-1);
    if (typeof callback === 'function')
      return void (callback as (e: null, s: StatusCode) => void)(null, StatusCodes.GoodClamped);
    return Promise.resolve(StatusCodes.GoodClamped);
  };
}

const certificate = server.getCertificate();
const endpoint = `opc.tcp://127.0.0.1:${options.port}/edge`;
/** Lines for the parent start with this: node-opcua writes its own logs to stdout too. */
const MARK = '@edge ';
process.stdout.write(
  `${MARK}${JSON.stringify({ port: options.port, endpoint, certSha256: createHash('sha256').update(certificate).digest('hex') })}\n`,
);

interface Command {
  readonly id: number;
  readonly op: 'set' | 'status' | 'get' | 'add';
  readonly name: string;
  readonly variable?: ServerVariable;
  readonly value?: number | boolean | string;
  readonly status?: string;
}

function run(command: Command): unknown {
  if (command.op === 'add') return void addVariable(command.variable!);
  const entry = nodes.get(command.name);
  if (!entry) throw new Error(`no variable ${command.name}`);
  const { node, dataType } = entry;
  switch (command.op) {
    case 'set':
      node.setValueFromSource(new Variant({ dataType, value: command.value }), StatusCodes.Good);
      return null;
    case 'status': {
      const codes = StatusCodes as unknown as Record<string, StatusCode>;
      const status = codes[command.status ?? ''];
      if (!status) throw new Error(`no status code ${command.status}`);
      node.setValueFromSource(node.readValue().value, status);
      return null;
    }
    case 'get':
      return node.readValue().value.value as unknown;
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const command = JSON.parse(line) as Command;
  try {
    process.stdout.write(`${MARK}${JSON.stringify({ id: command.id, result: run(command) })}\n`);
  } catch (error) {
    process.stdout.write(`${MARK}${JSON.stringify({ id: command.id, error: String(error) })}\n`);
  }
});
// The parent went away (test ended or crashed): shut down; with the server's sockets and
// timers released and stdin closed, the process ends by itself (no exit call).
lines.on('close', () => {
  void server.shutdown(0);
});
