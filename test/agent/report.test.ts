/**
 * Report by exception wired through the agent (issue 14 item 1): a device with
 * `report: {mode: change}` polling unchanged registers of a real pymodbus server stores
 * one telemetry record, counts the rest as suppressed (status and /metrics), and still
 * stores its events; a device without `report` stores every poll, as before.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import Database from 'better-sqlite3';
import type { z } from 'zod';
import { Agent } from '../../src/agent.js';
import { configSchema, type EdgeConfigInput } from '../../src/config/schema.js';
import type { deviceReportSchema } from '../../src/config/sections/report.js';
import { silentLogger } from '../../src/core/ports.js';
import { CLS_EVENT, CLS_TELEMETRY } from '../../src/store/outbox.js';
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
    slaves: { 1: { holding: { values: { 0: [2301, 17] } } } },
  });
});
after(async () => {
  await peer?.stop();
  dir.remove();
});

type DeviceReportInput = z.input<typeof deviceReportSchema>;

interface DeviceStatus {
  readonly device: string;
  readonly polls: number;
  readonly suppressedValues: number;
  readonly lastPollTs: number | null;
  readonly lastPollMs: number | null;
}

it(
  'report by exception: unchanged values are not stored, events are, and the default stores every poll',
  { timeout: 60_000 },
  async () => {
    const dbPath = join(dir.path, 'report.db');
    const connection = { transport: 'tcp', host: '127.0.0.1', port } as const;
    const tags = [
      { name: 'voltage', function: 'holding', address: 0 },
      { name: 'count', function: 'holding', address: 1 },
    ] as const;
    const device = (name: string, report?: DeviceReportInput) => ({
      name,
      driver: 'modbus' as const,
      connection,
      intervalMs: 50,
      tags: [...tags],
      ...(report ? { report } : {}),
    });
    const quietReport: DeviceReportInput = {
      mode: 'change',
      maxPeriodMs: 600_000,
      tags: { count: { deadband: { abs: 5 } } },
    };
    const input: EdgeConfigInput = {
      agent: { id: 't', site: 'site-1' },
      store: { path: dbPath },
      http: { enabled: false },
      devices: [device('quiet', quietReport), device('chatty')],
    };
    const agent = new Agent({ config: configSchema.parse(input), logger: silentLogger });
    const devices = (): DeviceStatus[] => agent.status().devices as DeviceStatus[];
    try {
      await agent.start();
      await waitFor('10 polls each', () => devices().every((d) => d.polls >= 10));
      // page-sample-equals-status: what the station page samples while nobody looks is
      // status.json's fields it reads, not something else.
      const status = agent.status();
      assert.deepEqual(agent.pageSample(), {
        outbox: { rows: (status.outbox as { rows: number }).rows },
        forwarder: { publishedRecords: 0 },
        devices: (status.devices as DeviceStatus[]).map((d) => ({
          device: d.device,
          lastPollTs: d.lastPollTs,
          lastPollMs: d.lastPollMs,
        })),
      });
    } finally {
      await agent.stop();
    }
    const db = new Database(dbPath, { readonly: true });
    const rows = db.prepare('SELECT device, cls, body FROM records ORDER BY rowid').all() as Array<{
      device: string;
      cls: number;
      body: string;
    }>;
    db.close();
    const [quiet, chatty] = devices();
    assert.ok(quiet && chatty);
    const telemetry = (device: string) => rows.filter((r) => r.device === device && r.cls === CLS_TELEMETRY);
    assert.equal(telemetry('quiet').length, 1, 'only the first value of unchanged registers');
    assert.deepEqual(JSON.parse(telemetry('quiet')[0]?.body ?? '{}'), {
      voltage: { v: 2301, q: 'good' },
      count: { v: 17, q: 'good' },
    });
    assert.equal(quiet.suppressedValues, (quiet.polls - 1) * 2);
    assert.equal(telemetry('chatty').length, chatty.polls);
    assert.equal(chatty.suppressedValues, 0);
    assert.ok(
      rows.some((r) => r.device === 'quiet' && r.cls === CLS_EVENT && r.body.includes('device-online')),
    );
  },
);
