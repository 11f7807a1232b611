import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dtuCrossCheck, dtuSchema } from '../../src/drivers/modbus/dtu/config.js';
import { compileRegistration, matchRegistration } from '../../src/drivers/modbus/dtu/registration.js';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import { lineKey } from '../../src/drivers/modbus/family.js';

describe('dtu config', () => {
  it('dtu.server.host has no default: the listener never binds every interface unasked', () => {
    const r = dtuSchema.safeParse({
      server: { port: 9000 },
      links: [{ name: 'a', mode: 'server', registration: { ascii: 'X' } }],
    });
    assert.equal(r.success, false);
    assert.match(JSON.stringify(r.error?.issues), /"host"/);
  });

  it('allowFrom takes IPv4 and IPv6 addresses and CIDRs, nothing else', () => {
    const parse = (allowFrom: unknown) =>
      dtuSchema.safeParse({
        server: { host: '127.0.0.1', allowFrom },
        links: [{ name: 'a', mode: 'server', registration: { ascii: 'X' }, allowFrom }],
      }).success;
    assert.equal(parse(['10.64.0.0/16', '192.0.2.7', '2001:db8::/32', '::1']), true);
    for (const bad of [['10.64.0.0/33'], ['2001:db8::/129'], ['dtu.example.net'], ['10.0.0.0/8x'], []])
      assert.equal(parse(bad), false, JSON.stringify(bad));
  });

  it('registration regexes with exponential backtracking are refused; linear ones pass', () => {
    const ok = (regex: string) =>
      dtuSchema.safeParse({
        server: { host: '127.0.0.1' },
        links: [{ name: 'a', mode: 'server', registration: { regex } }],
      }).success;
    for (const bad of [
      '^(a+)+$',
      '^(a|aa)*$',
      '^(\\d{2,})*X',
      '^((ab)*c)+$',
      '^(?:[A-Z]+\\d?)*$',
      '(x+x+)+y',
    ])
      assert.equal(ok(bad), false, bad);
    for (const good of [
      '^IMEI\\d{15}',
      '^DTU-(\\d+)',
      '^(?:AB|CD)\\d+',
      '^(ID:)?[0-9A-F]{8}',
      '^[(|)]+\\d',
      '^(ab){3}',
    ])
      assert.equal(ok(good), true, good);
  });

  it('parses with defaults', () => {
    const c = dtuSchema.parse({
      server: { host: '10.64.0.1', port: 9000 },
      links: [
        { name: 'dtu-north', mode: 'server', registration: { ascii: 'DTU-0001' }, heartbeat: { hex: 'FE' } },
        { name: 'dtu-south', mode: 'client', host: '192.0.2.20', port: 8899 },
      ],
    });
    assert.equal(c.server!.host, '10.64.0.1');
    assert.equal(c.server!.unknownRegistrationsPerMinute, 10);
    assert.equal((c.links[0] as { replaceLive?: boolean }).replaceLive, false);
    assert.equal(c.server!.registrationTimeoutMs, 10_000);
    assert.equal(c.server!.maxLinks, 500);
    assert.equal(c.echoSuppression, false);
    const [north, south] = c.links;
    assert.equal(north!.heartbeatIntervalMs, 30_000);
    assert.equal(north!.missedHeartbeats, 3);
    assert.ok(south!.mode === 'client');
    assert.deepEqual(south!.reconnect, { initialMs: 1000, maxMs: 60_000, multiplier: 2, jitter: 0.5 });
  });

  it('rejects duplicates, bad hex, bad regex, server links without server, unknown keys', () => {
    const bad = (v: unknown): string => {
      const r = dtuSchema.safeParse(v);
      assert.equal(r.success, false);
      return JSON.stringify(r.error?.issues);
    };
    assert.match(
      bad({ links: [{ name: 'a', mode: 'server', registration: { ascii: 'X' } }] }),
      /dtu\.server/,
    );
    assert.match(
      bad({
        server: { host: '127.0.0.1' },
        links: [{ name: 'a', mode: 'server', registration: { hex: 'F' } }],
      }),
      /hex/,
    );
    assert.match(
      bad({
        server: { host: '127.0.0.1' },
        links: [{ name: 'a', mode: 'server', registration: { regex: '(' } }],
      }),
      /regular expression/,
    );
    assert.match(
      bad({
        server: { host: '127.0.0.1' },
        links: [
          { name: 'a', mode: 'server', registration: { ascii: 'X' } },
          { name: 'a', mode: 'server', registration: { ascii: 'Y' } },
        ],
      }),
      /duplicate DTU link name/,
    );
    assert.match(
      bad({
        server: { host: '127.0.0.1' },
        links: [
          { name: 'a', mode: 'server', registration: { ascii: 'X' } },
          { name: 'b', mode: 'server', registration: { ascii: 'X' } },
        ],
      }),
      /same registration/,
    );
    bad({
      server: { host: '127.0.0.1' },
      links: [{ name: 'a', mode: 'server', registration: { ascii: 'X' }, bogus: 1 }],
    });
    assert.deepEqual(
      dtuSchema.parse({
        server: { host: '127.0.0.1' },
        links: [{ name: 'a', mode: 'server', registration: { hex: '44 54 55 00' } }],
      }).links[0],
      {
        name: 'a',
        mode: 'server',
        registration: { hex: '44545500' },
        replaceLive: false,
        transport: 'tcp',
        heartbeatIntervalMs: 30_000,
        missedHeartbeats: 3,
      },
    );
  });

  it('modbus device connection transport dtu; line key dtu:<name>', () => {
    const d = modbusDeviceSchema.parse({
      name: 'm',
      driver: 'modbus',
      connection: { transport: 'dtu', dtu: 'dtu-north' },
      tags: [{ name: 'v', function: 'holding', address: 0 }],
    });
    assert.deepEqual(d.connection, { transport: 'dtu', dtu: 'dtu-north', interFrameGapMs: 0 });
    assert.equal(lineKey(d.connection), 'dtu:dtu-north');
  });

  it('dtuCrossCheck', () => {
    const devices = [
      { connection: { transport: 'tcp', host: 'x' } },
      { connection: { transport: 'dtu', dtu: 'north' } },
      { connection: { transport: 'dtu', dtu: 'west' } },
      { other: true },
    ];
    assert.deepEqual(dtuCrossCheck(devices, { links: [{ name: 'north' }] }), [
      {
        path: ['devices', 2, 'connection', 'dtu'],
        message: 'unknown DTU link "west"; dtu.links has "north"',
      },
    ]);
    assert.equal(dtuCrossCheck(devices, undefined).length, 2);
    assert.deepEqual(dtuCrossCheck([], undefined), []);
  });
});

describe('registration matching', () => {
  const links = [
    compileRegistration('a', { ascii: 'DTU-1' }),
    compileRegistration('b', { ascii: 'DTU-10' }),
    compileRegistration('h', { hex: '445455ff' }),
  ];
  const b = (s: string): Buffer => Buffer.from(s, 'latin1');

  it('prefix of a pattern waits; full match is consumed', () => {
    assert.deepEqual(matchRegistration(b('DT'), links, false), { kind: 'wait' });
    assert.deepEqual(matchRegistration(b('DTU-2'), links, false), { kind: 'unknown' });
    assert.deepEqual(matchRegistration(Buffer.from('445455ff0103', 'hex'), links, false), {
      kind: 'match',
      name: 'h',
      consumed: 4,
    });
  });

  it('a shorter match waits while a longer pattern may follow; the longest wins', () => {
    assert.deepEqual(matchRegistration(b('DTU-1'), links, false), { kind: 'wait' });
    assert.deepEqual(matchRegistration(b('DTU-1'), links, true), { kind: 'match', name: 'a', consumed: 5 });
    assert.deepEqual(matchRegistration(b('DTU-10'), links, false), { kind: 'match', name: 'b', consumed: 6 });
    assert.deepEqual(matchRegistration(b('DTU-1\x01\x03'), links, false), {
      kind: 'match',
      name: 'a',
      consumed: 5,
    });
  });

  it('regex: waits while the match reaches the end; consumes match[0]', () => {
    const r = [
      compileRegistration('imei', { regex: '^IMEI\\d{15}' }),
      compileRegistration('greedy', { regex: '^ID:\\d+' }),
    ];
    assert.deepEqual(matchRegistration(b('IMEI86000000000'), r, false), { kind: 'wait' });
    assert.deepEqual(matchRegistration(b('IMEI860000000000001'), r, false), { kind: 'wait' });
    assert.deepEqual(matchRegistration(b('IMEI860000000000001\x01'), r, false), {
      kind: 'match',
      name: 'imei',
      consumed: 19,
    });
    assert.deepEqual(matchRegistration(b('IMEI860000000000001'), r, true), {
      kind: 'match',
      name: 'imei',
      consumed: 19,
    });
    assert.deepEqual(matchRegistration(b('ID:12'), r, true), { kind: 'match', name: 'greedy', consumed: 5 });
    assert.deepEqual(matchRegistration(b('nope'), r, false), { kind: 'wait' });
    assert.deepEqual(matchRegistration(b('nope'), r, true), { kind: 'unknown' });
  });
});
