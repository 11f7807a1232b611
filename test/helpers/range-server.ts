/** An https server for one bundle that answers Range + If-Range like a CDN (OTA resume tests). */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { TestCerts } from './certs.js';

/** `ranges` collects every Range header asked for; the ETag is "b1". */
export function rangeServer(certs: TestCerts, bundle: Buffer, ranges: string[]): Server {
  return createServer(
    { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey), minVersion: 'TLSv1.3' },
    (req, res) => {
      const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = match && req.headers['if-range'] === '"b1"' ? Number(match[1]) : 0;
      if (req.headers.range) ranges.push(req.headers.range);
      res.statusCode = start > 0 ? 206 : 200;
      res.setHeader('ETag', '"b1"');
      res.setHeader('Content-Length', bundle.length - start);
      if (start > 0) res.setHeader('Content-Range', `bytes ${start}-${bundle.length - 1}/${bundle.length}`);
      // Small writes so the client sees several chunks.
      for (let i = start; i < bundle.length; i += 16_384)
        res.write(bundle.subarray(i, Math.min(bundle.length, i + 16_384)));
      res.end();
    },
  );
}
