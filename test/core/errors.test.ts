import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { EdgeError, errorCatalogue, toEdgeError } from '../../src/core/errors.js';
// the drivers' codes join the catalogue through their definitions
import '../../src/drivers/registry.js';

describe('error catalogue', () => {
  const doc = readFileSync('docs/errors.md', 'utf8');
  const documented = [...doc.matchAll(/^## (EDGE_ERR_\w+)$/gm)].map((m) => m[1]);

  it('documents every code in docs/errors.md, and only those', () => {
    assert.deepEqual([...documented].sort(), [...errorCatalogue().keys()].sort());
  });

  it('names every code EDGE_ERR_<AREA>_<WHAT>', () => {
    for (const code of [...errorCatalogue().keys()]) assert.match(code, /^EDGE_ERR_[A-Z0-9]+_[A-Z0-9_]+$/);
  });

  it('carries code, nature and context; wraps foreign errors keeping their message', () => {
    const e = new EdgeError('EDGE_ERR_MODBUS_TIMEOUT', 'no answer', { context: { device: 'm1', tag: 'v' } });
    assert.equal(e.nature, 'retry');
    assert.equal(e.retryable, true);
    assert.deepEqual(e.toJSON(), {
      code: 'EDGE_ERR_MODBUS_TIMEOUT',
      nature: 'retry',
      message: 'no answer',
      context: { device: 'm1', tag: 'v' },
    });
    const wrapped = toEdgeError(new Error('boom'), 'EDGE_ERR_DRIVER_POLL', { device: 'x' });
    assert.equal(wrapped.code, 'EDGE_ERR_DRIVER_POLL');
    assert.equal(wrapped.message, 'boom');
    assert.equal(toEdgeError(e, 'EDGE_ERR_DRIVER_POLL'), e);
  });
});
