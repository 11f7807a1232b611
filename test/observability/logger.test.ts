import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { Logger } from '../../src/core/ports.js';
import { createLogger, maskUrlCredentials } from '../../src/observability/logger.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return {
    stream,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('writes JSON lines with level label, time and message, and satisfies the core Logger', () => {
    const out = capture();
    const logger: Logger = createLogger('info', out.stream);
    logger.debug({ a: 1 }, 'hidden');
    logger.child({ device: 'meter-1' }).info({ polls: 3 }, 'polled');
    const lines = out.lines();
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.level, 'info');
    assert.equal(lines[0]!.msg, 'polled');
    assert.equal(lines[0]!.device, 'meter-1');
    assert.equal(lines[0]!.polls, 3);
    assert.equal(typeof lines[0]!.time, 'string');
  });

  it('never prints a password in bindings or objects', () => {
    const out = capture();
    const logger = createLogger('debug', out.stream);
    const child = logger.child({
      password: 'hunter2-binding',
      mqtt: { username: 'u', password: 'hunter2-nested-binding' },
    });
    child.info(
      { password: 'hunter2-object', token: 'tok-123', passphrase: 'pp-456', secret: 's-789', key: 'k-000' },
      'connecting',
    );
    child.warn({ config: { mqtt: { password: 'hunter2-deep', tls: { key: 'pem-secret' } } } }, 'deep');
    child.error({ url: 'mqtts://station:hunter2-url@broker.example:8883' }, 'url field');
    child.info({ detail: { endpoint: 'mqtt://user:hunter2-str@host:1883/x' } }, 'url anywhere');
    child.info({}, 'connecting to mqtt://user:hunter2-msg@host:1883');
    const text = out.text();
    for (const secret of ['hunter2', 'tok-123', 'pp-456', 's-789', 'k-000', 'pem-secret']) {
      assert.equal(text.includes(secret), false, `${secret} leaked: ${text}`);
    }
    const lines = out.lines();
    assert.equal(lines[0]!.password, '[Redacted]');
    assert.deepEqual(lines[0]!.mqtt, { username: 'u', password: '[Redacted]' });
    assert.equal(lines[2]!.url, 'mqtts://station:[Redacted]@broker.example:8883');
    assert.equal(lines[4]!.msg, 'connecting to mqtt://user:[Redacted]@host:1883');
    // Ordinary fields are untouched and absent secret keys are not invented.
    assert.equal(lines[1]!.msg, 'deep');
    assert.equal('token' in lines[1]!, false);
  });

  it('honours the level, including silent', () => {
    const out = capture();
    const logger = createLogger('silent', out.stream);
    logger.error({ a: 1 }, 'nothing');
    assert.equal(out.text(), '');
  });
});

describe('maskUrlCredentials', () => {
  it('masks the password (or a lone token) and leaves other text alone', () => {
    assert.equal(maskUrlCredentials('mqtt://u:p@h:1883'), 'mqtt://u:[Redacted]@h:1883');
    assert.equal(maskUrlCredentials('wss://tok@h/mqtt'), 'wss://[Redacted]@h/mqtt');
    assert.equal(maskUrlCredentials('mqtt://h:1883'), 'mqtt://h:1883');
    assert.equal(maskUrlCredentials('mail me: ops@example.com'), 'mail me: ops@example.com');
  });
});
