/** The `dtu` section's UDP extension: transport, udpServer, duplicateWindowMs. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dtuSchema } from '../../src/drivers/modbus/dtu/config.js';

const issues = (v: unknown): string => {
  const r = dtuSchema.safeParse(v);
  assert.equal(r.success, false, 'rejected');
  return JSON.stringify(r.error?.issues);
};

const udpServerLink = { name: 'n', mode: 'server', transport: 'udp', registration: { ascii: 'DTU-1' } };

describe('dtu config over UDP', () => {
  it('a udp server link needs dtu.udpServer, not dtu.server', () => {
    assert.match(issues({ links: [udpServerLink] }), /dtu\.udpServer/);
    assert.match(issues({ server: { host: '127.0.0.1' }, links: [udpServerLink] }), /"path":\["udpServer"\]/);
    const c = dtuSchema.parse({ udpServer: { host: '10.64.0.1' }, links: [udpServerLink] });
    assert.equal(c.udpServer!.port, 9000);
    assert.equal(c.server, undefined);
    assert.equal(c.links[0]!.transport, 'udp');
    assert.equal(c.links[0]!.duplicateWindowMs, undefined, 'default applied by the link (100 ms)');
  });

  it('transport defaults to tcp; a tcp server link still needs dtu.server', () => {
    const tcp = { name: 't', mode: 'server', registration: { ascii: 'T' } };
    assert.match(issues({ udpServer: { host: '127.0.0.1' }, links: [udpServerLink, tcp] }), /dtu\.server/);
    const c = dtuSchema.parse({ links: [{ name: 'c', mode: 'client', host: 'h', port: 1 }] });
    assert.equal(c.links[0]!.transport, 'tcp');
  });

  it('unknown keys and misplaced UDP settings are rejected', () => {
    assert.match(
      issues({ udpServer: { host: '127.0.0.1', bogus: 1 }, links: [udpServerLink] }),
      /unrecognized_keys/,
    );
    assert.match(
      issues({ udpServer: { host: '127.0.0.1' }, links: [{ ...udpServerLink, udp: {} }] }),
      /unrecognized_keys/,
    );
    assert.match(
      issues({ links: [{ ...udpServerLink, transport: 'sctp' }], udpServer: { host: 'x' } }),
      /transport/,
    );
    assert.match(
      issues({
        links: [{ name: 'c', mode: 'client', host: 'h', port: 1, duplicateWindowMs: 50 }],
      }),
      /duplicateWindowMs applies to transport udp only/,
    );
    assert.match(
      issues({ udpServer: { host: '127.0.0.1', allowFrom: ['10.0.0.0/33'] }, links: [udpServerLink] }),
      /allowFrom/,
    );
  });
});
