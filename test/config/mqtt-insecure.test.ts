/** Plaintext broker URLs are refused unless mqtt.allowInsecure (issue 12, Low). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfigText, validateConfig } from '../../src/config/load.js';

describe('mqtt.url scheme', () => {
  for (const url of ['mqtt://broker:1883', 'tcp://broker:1883', 'ws://broker:8080/mqtt']) {
    it(`${url.split(':')[0]}:// is refused without mqtt.allowInsecure, naming the field`, () => {
      const result = validateConfig({ mqtt: { url } });
      assert.equal(result.ok, false);
      const issues = result.ok ? [] : result.issues;
      assert.equal(issues.length, 1);
      assert.equal(issues[0]?.path, 'mqtt.url');
      assert.match(issues[0]?.message ?? '', /plaintext.*mqtts:\/\/.*mqtt\.allowInsecure: true/);
      assert.equal(validateConfig({ mqtt: { url, allowInsecure: true } }).ok, true);
    });
  }

  it('mqtts:// and wss:// need no allowance; no url needs none either', () => {
    assert.equal(validateConfig({ mqtt: { url: 'mqtts://broker:8883' } }).ok, true);
    assert.equal(validateConfig({ mqtt: { url: 'wss://broker/mqtt' } }).ok, true);
    assert.equal(validateConfig({}).ok, true);
  });

  it('check-config prints the problem with its path', () => {
    const result = checkConfigText('mqtt:\n  url: mqtt://10.0.0.5:1883\n');
    assert.equal(result.ok, false);
    const text = result.ok ? '' : result.issues.map((i) => `${i.path}: ${i.message}`).join('\n');
    assert.match(text, /^mqtt\.url: mqtt:\/\/ is plaintext/);
  });
});
