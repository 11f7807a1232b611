/**
 * CommandRouter over MemoryCommandChannel and fake drivers: validation, the allow,
 * exactly-once writes with duplicate ids, per-device order and bound, timeouts, offline
 * results kept in the outbox, malformed payloads never throwing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { MemoryCommandChannel } from '../../src/core/command-channel.js';
import { CommandRouter, type CommandResult, type CommandTarget } from '../../src/core/command-router.js';
import { EdgeError } from '../../src/core/errors.js';
import type { OutboxSink, WriteValue } from '../../src/core/ports.js';
import type { NewRecord, StoredRecord } from '../../src/core/types.js';
import { captureLogger } from '../helpers/logger.js';
import { FakeDriver } from '../core/fake-driver.js';

/** A FakeDriver that can write: each write waits for the test to settle it. */
class WritableFake extends FakeDriver {
  readonly writes: Array<{ tag: string; value: WriteValue; settle: (error?: Error) => void }> = [];
  autoSettle: Error | null | undefined = null; // null: resolve at once; undefined: wait for the test
  write = (tag: string, value: WriteValue): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const settle = (error?: Error): void => (error ? reject(error) : resolve());
      this.writes.push({ tag, value, settle });
      if (this.autoSettle !== undefined) settle(this.autoSettle ?? undefined);
    });
}

class MemorySink implements OutboxSink {
  readonly records: NewRecord[] = [];
  append(record: NewRecord): void {
    this.records.push(record);
  }
  async appendDurable(record: NewRecord): Promise<StoredRecord> {
    this.append(record);
    return {
      ...record,
      rowid: this.records.length,
      id: String(this.records.length),
      seq: this.records.length,
    };
  }
  events(type: string): Array<Record<string, unknown>> {
    return this.records
      .filter((r) => r.cls === 'event')
      .map((r) => JSON.parse(r.body) as { type: string; data: Record<string, unknown> })
      .filter((e) => e.type === type)
      .map((e) => e.data);
  }
}

function setup(
  targets?: (drivers: { pump: WritableFake; meter: FakeDriver }) => CommandTarget[],
  options = {},
) {
  const clock = new ManualClock();
  const channel = new MemoryCommandChannel('edge/site-1');
  const sink = new MemorySink();
  const log = captureLogger();
  const pump = new WritableFake('pump', [{ name: 'speed', intervalMs: 1000 }]);
  const meter = new FakeDriver('meter', [{ name: 'kwh', intervalMs: 1000 }]);
  const list = targets
    ? targets({ pump, meter })
    : [
        { device: 'pump', driver: pump, allowWrites: true },
        { device: 'meter', driver: meter, allowWrites: true },
      ];
  const router = new CommandRouter(
    list,
    // Freshness has its own tests (command-guard.test.ts); the others send commands without ts.
    {
      timeoutMs: 5000,
      maxPendingPerDevice: 2,
      dedupeSize: 16,
      maxPayloadBytes: 1024,
      requireExpiry: false,
      ...options,
    },
    { channel, sink, clock, logger: log },
  );
  router.start();
  const results = (): CommandResult[] =>
    channel.published
      .filter((p) => p.topic.endsWith('/cmd/result'))
      .map((p) => JSON.parse(p.payload.toString()) as CommandResult);
  const settled = async (): Promise<void> => clock.advance(0);
  return { clock, channel, sink, log, pump, meter, router, results, settled };
}

const cmd = (body: unknown): string => JSON.stringify(body);

describe('command router', () => {
  it('subscribes {device}/cmd only for drivers that can write, and writes once with a done result', async () => {
    const s = setup();
    assert.equal(s.channel.subscriptionCount(), 1);
    s.channel.inject('pump/cmd', cmd({ id: 'c1', tag: 'speed', value: 1200 }));
    await s.settled();
    assert.deepEqual(
      s.pump.writes.map((w) => [w.tag, w.value]),
      [['speed', 1200]],
    );
    const [result] = s.results();
    assert.deepEqual(result, { id: 'c1', status: 'done', ts: s.clock.now() });
    assert.equal(s.channel.published[0]!.topic, 'edge/site-1/pump/cmd/result');
    const [event] = s.sink.events('command-result');
    assert.equal(event!.status, 'done');
    assert.equal(event!.tag, 'speed');
    assert.equal(event!.value, 1200);
    s.channel.inject('meter/cmd', cmd({ id: 'c2', tag: 'kwh', value: 1 }));
    await s.settled();
    assert.equal(s.results().length, 1, 'no subscription for a read-only driver');
  });

  it('refuses every command when writes are not allowed, without calling the driver', async () => {
    const s = setup(({ pump }) => [{ device: 'pump', driver: pump, allowWrites: false }]);
    s.channel.inject('pump/cmd', cmd({ id: 'c1', tag: 'speed', value: 1 }));
    await s.settled();
    assert.equal(s.pump.writes.length, 0);
    const [r] = s.results();
    assert.equal(r!.status, 'rejected');
    assert.equal(r!.code, 'EDGE_ERR_CMD_NOT_ALLOWED');
    assert.match(r!.message ?? '', /commands\.allowWrites/);
  });

  it('validates the payload and names the field', async () => {
    const s = setup();
    const cases: Array<[unknown, RegExp]> = [
      [{ id: 'a', value: 1 }, /^tag: /],
      [{ id: 'b', tag: 'speed' }, /^value: /],
      [{ id: 'c', tag: 'speed', value: { x: 1 } }, /^value: /],
      [{ id: 'd', tag: 'speed', value: 1, extra: true }, /extra/],
      [{ id: 'e', tag: '', value: 1 }, /^tag: /],
    ];
    for (const [body] of cases) s.channel.inject('pump/cmd', cmd(body));
    await s.settled();
    const results = s.results();
    assert.equal(results.length, cases.length);
    cases.forEach(([body, pattern], i) => {
      const r = results.find((x) => x.id === (body as { id: string }).id)!;
      assert.equal(r.status, 'rejected');
      assert.equal(r.code, 'EDGE_ERR_CMD_INVALID');
      assert.match(r.message ?? '', pattern, `case ${i}`);
    });
    assert.equal(s.pump.writes.length, 0);
  });

  it('malformed payloads without a readable id are counted and logged, never thrown', async () => {
    const s = setup();
    for (const payload of [
      'not json',
      '[1,2]',
      '{"tag":"speed","value":1}',
      '{"id":42}',
      'x'.repeat(2000),
      '\u0000\uffff',
    ]) {
      assert.doesNotThrow(() => s.channel.inject('pump/cmd', payload));
    }
    await s.settled();
    assert.equal(s.results().length, 0);
    assert.equal(s.router.stats().malformed, 6);
    assert.equal(s.log.lines.filter((r) => r.msg === 'malformed command dropped').length, 6);
  });

  it('a driver refusal is rejected (not writable) or an error with the device code', async () => {
    const s = setup();
    s.pump.autoSettle = new EdgeError('EDGE_ERR_CMD_NOT_WRITABLE', 'tag speed is not writable');
    s.channel.inject('pump/cmd', cmd({ id: 'r1', tag: 'speed', value: 1 }));
    await s.settled();
    s.pump.autoSettle = new EdgeError('EDGE_ERR_MODBUS_ILLEGAL_ADDRESS', 'exception 2', {
      context: { modbusCode: 2 },
    });
    s.channel.inject('pump/cmd', cmd({ id: 'r2', tag: 'speed', value: 1 }));
    await s.settled();
    s.pump.autoSettle = new EdgeError('EDGE_ERR_MODBUS_TIMEOUT', 'no answer', {
      context: { plcCode: '0x05' },
    });
    s.channel.inject('pump/cmd', cmd({ id: 'r3', tag: 'speed', value: 1 }));
    await s.settled();
    const [r1, r2, r3] = s.results();
    assert.deepEqual([r1!.status, r1!.code], ['rejected', 'EDGE_ERR_CMD_NOT_WRITABLE']);
    assert.deepEqual([r2!.status, r2!.code, r2!.deviceCode], ['error', 'EDGE_ERR_MODBUS_ILLEGAL_ADDRESS', 2]);
    assert.deepEqual([r3!.status, r3!.plcCode], ['error', '0x05']);
    assert.equal(s.pump.writes.length, 3, 'each command written exactly once, never retried');
  });

  it('a duplicate id (QoS 1 redelivery) is answered with the stored result and not written again, even while running', async () => {
    const s = setup();
    s.pump.autoSettle = undefined;
    s.channel.inject('pump/cmd', cmd({ id: 'dup', tag: 'speed', value: 7 }));
    await s.settled();
    s.channel.inject('pump/cmd', cmd({ id: 'dup', tag: 'speed', value: 7 }));
    await s.settled();
    assert.equal(s.pump.writes.length, 1);
    assert.equal(s.results().length, 0, 'no answer before the write settles');
    s.pump.writes[0]!.settle();
    await s.settled();
    s.channel.inject('pump/cmd', cmd({ id: 'dup', tag: 'speed', value: 99 }));
    await s.settled();
    assert.equal(s.pump.writes.length, 1);
    const results = s.results();
    assert.equal(results.length, 3);
    assert.ok(results.every((r) => r.id === 'dup' && r.status === 'done' && r.ts === results[0]!.ts));
    assert.equal(s.sink.events('command-result').length, 1, 'one outbox record per executed command');
    assert.equal(s.router.stats().duplicates, 2);
  });

  it('ids beyond dedupeSize leave RAM, but the ledger still answers them: never written twice', async () => {
    const s = setup(undefined, { dedupeSize: 16, maxPendingPerDevice: 100 });
    for (let i = 0; i < 20; i++) s.channel.inject('pump/cmd', cmd({ id: `id-${i}`, tag: 'speed', value: i }));
    await s.settled();
    s.channel.inject('pump/cmd', cmd({ id: 'id-19', tag: 'speed', value: 19 }));
    s.channel.inject('pump/cmd', cmd({ id: 'id-0', tag: 'speed', value: 0 }));
    await s.settled();
    assert.equal(s.pump.writes.length, 20, 'id-19 in RAM, id-0 in the ledger');
    const answers = s.results().filter((r) => r.id === 'id-0');
    assert.deepEqual(
      answers.map((r) => r.status),
      ['done', 'done'],
      'the stored result is published again',
    );
  });

  it('runs commands of a device in order and rejects beyond maxPendingPerDevice', async () => {
    const s = setup();
    s.pump.autoSettle = undefined;
    for (const id of ['a', 'b', 'c'])
      s.channel.inject('pump/cmd', cmd({ id, tag: 'speed', value: id.charCodeAt(0) }));
    await s.settled();
    assert.equal(s.pump.writes.length, 1, 'b waits for a');
    assert.deepEqual(
      s.results().map((r) => [r.id, r.code]),
      [['c', 'EDGE_ERR_CMD_BUSY']],
    );
    s.pump.writes[0]!.settle();
    await s.settled();
    assert.deepEqual(
      s.pump.writes.map((w) => w.value),
      [97, 98],
    );
    s.pump.writes[1]!.settle();
    await s.settled();
    assert.deepEqual(
      s.results().map((r) => `${r.id}:${r.status}`),
      ['c:rejected', 'a:done', 'b:done'],
    );
  });

  it('a write the driver never confirms times out as error with outcome unknown', async () => {
    const s = setup();
    s.pump.autoSettle = undefined;
    s.channel.inject('pump/cmd', cmd({ id: 't', tag: 'speed', value: 1 }));
    await s.clock.advance(4999);
    assert.equal(s.results().length, 0);
    await s.clock.advance(1);
    const [r] = s.results();
    assert.equal(r!.code, 'EDGE_ERR_CMD_TIMEOUT');
    assert.match(r!.message ?? '', /may or may not/);
    s.pump.writes[0]!.settle();
    await s.settled();
    assert.equal(s.results().length, 1);
  });

  it('keeps the result in the outbox when the channel is offline', async () => {
    const s = setup();
    s.channel.online = false;
    s.channel.inject('pump/cmd', cmd({ id: 'off', tag: 'speed', value: 3 }));
    await s.settled();
    assert.equal(s.results().length, 0);
    assert.equal(s.router.stats().publishFailures, 1);
    assert.equal(s.sink.events('command-result')[0]!.id, 'off');
  });

  it('stop() unsubscribes and waits for running commands', async () => {
    const s = setup();
    s.pump.autoSettle = undefined;
    s.channel.inject('pump/cmd', cmd({ id: 's', tag: 'speed', value: 1 }));
    await s.settled();
    let stopped = false;
    const stopping = s.router.stop().then(() => (stopped = true));
    await s.settled();
    assert.equal(stopped, false);
    assert.equal(s.channel.subscriptionCount(), 0);
    s.pump.writes[0]!.settle();
    await stopping;
    assert.equal(s.results()[0]!.status, 'done');
  });
});
