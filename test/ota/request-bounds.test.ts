/**
 * Review of issue 12 item 1: root reads the agent's request files with a size bound, but
 * the agent owns the file and can make it grow between root's fstat check and the read.
 * readFile re-reads the size (or reads to EOF), so a request far beyond the bound was read
 * whole (root's memory and time) and, padded with JSON whitespace, accepted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { readRequest } from '../../src/ota/requests.js';
import { tempDir } from '../helpers/tmp.js';

test('request-grows-after-check: a request file grown after the size check is refused, not read whole', async (t) => {
  const dir = tempDir('edge-ota-req-');
  t.after(() => dir.remove());
  const file = join(dir.path, '000000000001.json');
  writeFileSync(file, JSON.stringify({ op: 'healthy', version: '1.2.3' }));
  // The agent's write lands right after root's fstat: patch the handle's stat to do it then.
  const probe = await open(file, 'r');
  const proto = Object.getPrototypeOf(probe) as { stat: (...args: unknown[]) => Promise<unknown> };
  await probe.close();
  const stat = proto.stat;
  let grown = false;
  proto.stat = async function (this: unknown, ...args: unknown[]) {
    const result = await stat.apply(this, args);
    if (!grown) {
      grown = true;
      appendFileSync(file, ' '.repeat(8 * 1024 * 1024));
    }
    return result;
  };
  t.after(() => {
    proto.stat = stat;
  });
  await assert.rejects(readRequest(file, process.getuid!()), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'EDGE_ERR_OTA_SOURCE');
    return true;
  });
  assert.ok(grown, 'the file grew after the check');
});
