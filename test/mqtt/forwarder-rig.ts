/** What both forwarder test files share: the payload schema, a mosquitto broker, a backlog filler. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { FakeOutbox, event, telemetry } from './fake-outbox.js';
import type { Schema } from './schema-check.js';

export const schema = JSON.parse(
  readFileSync(join(process.cwd(), 'docs/mqtt-payload.schema.json'), 'utf8'),
) as Schema;

/** A broker started before the file's tests and closed after them; `url` is for the tests. */
export function sharedBroker(): { readonly url: string } {
  let started: MosquittoBroker | undefined;
  before(async () => {
    started = await startMosquitto({ extra: ['max_inflight_messages 100'] });
  });
  after(async () => {
    await started?.close();
  });
  return {
    get url(): string {
      if (!started) throw new Error('the broker starts in before()');
      return started.url;
    },
  };
}

export function fill(box: FakeOutbox, n: number, devices = 10, t0 = 1_700_000_000_000): void {
  const recs = [];
  for (let i = 0; i < n; i++)
    recs.push(
      i % 97 === 0 ? event(`dev-${i % devices}`, t0 + i) : telemetry(`dev-${i % devices}`, t0 + i, i),
    );
  box.append(recs);
}
