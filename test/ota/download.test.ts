import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { EdgeError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/ports.js';
import { downloadResumable } from '../../src/ota/download.js';
import { OtaEngine } from '../../src/ota/engine.js';
import { createTestCerts } from '../helpers/certs.js';
import { tempDir } from '../helpers/tmp.js';
import { bootableVersion, buildBundle, factoryInstall, makeKey, testOtaConfig } from './helpers.js';

interface Served {
  readonly url: string;
  readonly requests: { range?: string; ifRange?: string; status: number }[];
  close(): Promise<void>;
}

/**
 * An HTTPS file server with ETag and Range support that cuts the first response after
 * `cutAt` bytes (destroying the socket mid-body, as a dropped mobile link would).
 */
async function serve(
  body: Buffer,
  certs: ReturnType<typeof createTestCerts>,
  cutAt: number | null,
  etags: string[] = ['"v1"'],
): Promise<Served> {
  const requests: Served['requests'] = [];
  let cut = cutAt;
  const server: Server = createServer(
    { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey), minVersion: 'TLSv1.3' },
    (req, res) => {
      const etag = etags[Math.min(requests.length, etags.length - 1)]!;
      const range = req.headers.range;
      const ifRange = req.headers['if-range'] as string | undefined;
      const match = range && (!ifRange || ifRange === etag) ? /^bytes=(\d+)-$/.exec(range) : null;
      const start = match ? Number(match[1]) : 0;
      const status = match ? 206 : 200;
      requests.push({ range, ifRange, status });
      res.statusCode = status;
      res.setHeader('ETag', etag);
      res.setHeader('Content-Length', body.length - start);
      if (match) res.setHeader('Content-Range', `bytes ${start}-${body.length - 1}/${body.length}`);
      if (cut !== null) {
        const upTo = cut;
        cut = null;
        res.flushHeaders();
        res.write(body.subarray(start, upTo), () => res.socket?.destroy());
        return;
      }
      res.end(body.subarray(start));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}/edge-agent.tar.gz?token=secret`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('OTA download', () => {
  const certs = createTestCerts();
  const ca = readFileSync(certs.ca);

  it('resumes an interrupted download with Range + If-Range, gets 206, fetches < 2× the size, and the bundle installs', async (t) => {
    const tmp = tempDir('edge-ota-dl-');
    t.after(tmp.remove);
    const key = makeKey(tmp.path);
    const bundle = readFileSync(buildBundle(tmp.path, { version: '1.1.0', key, extraBytes: 600_000 }));
    const server = await serve(bundle, certs, Math.floor(bundle.length / 2));
    t.after(() => server.close());
    const config = testOtaConfig(tmp.path, key, { tls: { ca: certs.ca } });
    factoryInstall(config, '1.0.0');
    const engine = new OtaEngine({ config, logger: silentLogger, downloadBackoffMs: 0 });
    const sha256 = createHash('sha256').update(bundle).digest('hex');
    const result = await engine.apply({ source: server.url, origin: 'command', sha256 });
    assert.equal(server.requests.length, 2);
    assert.deepEqual(server.requests[0], { range: undefined, ifRange: undefined, status: 200 });
    assert.match(server.requests[1]!.range ?? '', /^bytes=\d+-$/);
    assert.equal(server.requests[1]!.ifRange, '"v1"');
    assert.equal(server.requests[1]!.status, 206);
    assert.ok(
      result.bytesFetched >= bundle.length && result.bytesFetched < 2 * bundle.length,
      `fetched ${result.bytesFetched} of ${bundle.length}`,
    );
    assert.equal(bootableVersion(config), '1.1.0');
  });

  it('starts over from 0 on 200 when the file changed (If-Range mismatch) and checks the total size', async (t) => {
    const tmp = tempDir('edge-ota-dl-');
    t.after(tmp.remove);
    const body = Buffer.alloc(300_000, 1);
    const server = await serve(body, certs, 100_000, ['"old"', '"new"']);
    t.after(() => server.close());
    const dest = join(tmp.path, 'b.bundle');
    const result = await downloadResumable(server.url, dest, {
      ca,
      idleTimeoutMs: 5000,
      attempts: 3,
      maxBytes: 1 << 20,
      backoffMs: 0,
      clock: systemClock,
      logger: silentLogger,
    });
    assert.deepEqual(
      server.requests.map((r) => [r.ifRange, r.status]),
      [
        [undefined, 200],
        ['"old"', 200],
      ],
    );
    assert.equal(result.size, body.length);
    assert.deepEqual(readFileSync(dest), body);
  });

  it('refuses a bundle over maxBundleBytes and an untrusted certificate', async (t) => {
    const tmp = tempDir('edge-ota-dl-');
    t.after(tmp.remove);
    const body = Buffer.alloc(50_000, 2);
    const server = await serve(body, certs, null);
    t.after(() => server.close());
    const base = { idleTimeoutMs: 5000, attempts: 2, backoffMs: 0, clock: systemClock, logger: silentLogger };
    await assert.rejects(
      downloadResumable(server.url, join(tmp.path, 'a'), { ...base, ca, maxBytes: 10_000 }),
      (e: unknown) => e instanceof EdgeError && e.code === 'EDGE_ERR_OTA_SOURCE',
    );
    await assert.rejects(
      downloadResumable(server.url, join(tmp.path, 'b'), { ...base, maxBytes: 1 << 20 }),
      /self[- ]signed|unable to verify|certificate/i,
    );
  });

  it('never logs the query string of a URL', async () => {
    const { redact } = await import('../../src/ota/download.js');
    assert.equal(redact('https://user:pw@h:1/p/b.tar.gz?token=secret'), 'https://h:1/p/b.tar.gz');
  });

  it('cleans up the test CA', () => certs.remove());
});
