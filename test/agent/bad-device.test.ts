/**
 * One device its driver refuses never stops the agent: run used to exit 1 on a Modbus tag
 * larger than maxRegistersPerRequest, taking every device down. Now that device is parked
 * offline with the code, and the others read a real pymodbus server.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Agent } from '../../src/agent.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/core/ports.js';
import { freePort } from '../helpers/net.js';
import { startPymodbus, type Peer } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const dir = tempDir();
let peer: Peer | undefined;
let port = 0;

before(async () => {
  port = await freePort();
  peer = await startPymodbus({
    transport: 'tcp',
    port,
    slaves: { 1: { holding: { values: { 0: [4321] } } } },
  });
});
after(async () => {
  await peer?.stop();
  dir.remove();
});

interface DeviceStatus {
  device: string;
  state: string;
  parked: boolean;
  polls: number;
  errorsByCode: Record<string, number>;
  link: Record<string, unknown>;
}

test('a device whose tag does not fit a request is offline with its code; the other device runs', async () => {
  const tcp = { transport: 'tcp', host: '127.0.0.1', port } as const;
  const agent = new Agent({
    config: configSchema.parse({
      agent: { id: 't', site: 's' },
      store: { path: join(dir.path, 'outbox.db') },
      http: { enabled: false },
      devices: [
        {
          name: 'good',
          driver: 'modbus',
          connection: tcp,
          tags: [{ name: 'v', function: 'holding', address: 0 }],
        },
        {
          name: 'label',
          driver: 'modbus',
          connection: tcp,
          maxRegistersPerRequest: 10,
          tags: [{ name: 'serial', function: 'holding', address: 0, type: 'string', length: 20 }],
        },
      ],
    }),
    logger: silentLogger,
  });
  try {
    await agent.start();
    const devices = (): DeviceStatus[] => agent.status().devices as DeviceStatus[];
    await waitFor('good polled, label parked', () => {
      const [good, label] = devices();
      return good?.polls !== undefined && good.polls > 0 && label?.parked === true;
    });
    const [good, label] = devices();
    assert.equal(good?.state, 'online');
    assert.equal(label?.state, 'offline');
    assert.deepEqual(label?.errorsByCode, { EDGE_ERR_CONFIG_INVALID: 1 });
    assert.equal(label?.link.code, 'EDGE_ERR_CONFIG_INVALID');
    assert.match(String(label?.link.reason), /device label: tags\[0\] "serial" needs 20 registers/);
  } finally {
    await agent.stop();
  }
});
