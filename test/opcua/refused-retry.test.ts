/**
 * A monitored item the server refused at the first connect (here a node the server does not
 * have yet, as before a PLC program download: BadNodeIdUnknown) is created again on the same
 * session with a bounded backoff, so its tag reports once the node exists. Before, it stayed
 * bad until the client was recreated (a connection lost for good, or the agent restarted).
 */
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { TagValue } from '../../src/core/types.js';
import { OpcuaDevice } from '../../src/drivers/opcua/device.js';
import { testDeviceConfig, TestOpcuaServer } from '../helpers/opcua.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const pki = tempDir('edge-opcua-refused-retry-');
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  pki.remove();
});

const shown = (values: readonly TagValue[]): Record<string, unknown> =>
  Object.fromEntries(values.map((v) => [v.tag, v.quality === 'good' ? v.value : v.code]));

it('opcua: a monitored item refused at the first connect is created again once the server has the node, same client', async () => {
  const server = await TestOpcuaServer.start([
    { name: 'a', dataType: 'Int32', value: 1 },
    { name: 'b', dataType: 'Int32', value: 2 },
  ]);
  cleanups.push(() => server.stop());
  const names = ['a', 'b', 'late'];
  const config = testDeviceConfig(server.endpoint, pki.path, names);
  const d = new OpcuaDevice(config, { clock: systemClock, logger: silentLogger, random: () => 0.5 });
  cleanups.push(() => d.stop());
  await d.start();
  assert.deepEqual(shown(await d.poll(names)), { a: 1, b: 2, late: 'EDGE_ERR_OPCUA_NODE_UNKNOWN' });
  // Refused again while the node is missing: a few retries go by, the tag stays bad.
  const seen: Record<string, unknown>[] = [];
  await waitFor('retries while the node is missing', async () => {
    seen.push(shown(await d.poll(names)));
    return (d.status().itemRetries as number) >= 2;
  });
  assert.ok(
    seen.every((v) => v.late === 'EDGE_ERR_OPCUA_NODE_UNKNOWN'),
    `late was never anything but unknown while missing: ${JSON.stringify(seen)}`,
  );

  await server.add({ name: 'late', dataType: 'Int32', value: 42 });
  await waitFor(
    'late good once the server has it',
    async () => shown(await d.poll(names)).late === 42,
    20_000,
  );
  // Monitored, not read once: a change arrives as a notification.
  await server.set('late', 43);
  await waitFor('a change of late arrives', async () => shown(await d.poll(names)).late === 43);
  assert.deepEqual(shown(await d.poll(names)), { a: 1, b: 2, late: 43 });
  assert.equal(d.status().connects, 1, 'the same connection');
  assert.equal(d.status().recreated, 0, 'the client was not recreated');
});
