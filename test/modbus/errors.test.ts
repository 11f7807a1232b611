import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toModbusError } from '../../src/drivers/modbus/errors.js';

test('exception codes map to stable codes', () => {
  const expected: Record<number, string> = {
    1: 'EDGE_ERR_MODBUS_ILLEGAL_FUNCTION',
    2: 'EDGE_ERR_MODBUS_ILLEGAL_ADDRESS',
    3: 'EDGE_ERR_MODBUS_ILLEGAL_VALUE',
    4: 'EDGE_ERR_MODBUS_DEVICE_FAILURE',
    5: 'EDGE_ERR_MODBUS_ACKNOWLEDGE',
    6: 'EDGE_ERR_MODBUS_BUSY',
    10: 'EDGE_ERR_MODBUS_GATEWAY_PATH',
    11: 'EDGE_ERR_MODBUS_GATEWAY_TARGET',
    8: 'EDGE_ERR_MODBUS_EXCEPTION',
    7: 'EDGE_ERR_MODBUS_EXCEPTION',
  };
  for (const [n, code] of Object.entries(expected)) {
    const err = Object.assign(new Error(`Modbus exception ${n}: x`), { modbusCode: Number(n) });
    assert.equal(toModbusError(err).code, code);
    assert.equal(toModbusError(err).context.modbusCode, Number(n));
  }
});

test('modbus-serial errors map by errno/message', () => {
  const timeout = { name: 'TransactionTimedOutError', message: 'Timed out', errno: 'ETIMEDOUT' };
  assert.equal(toModbusError(timeout).code, 'EDGE_ERR_MODBUS_TIMEOUT');
  assert.equal(toModbusError(new Error('CRC error')).code, 'EDGE_ERR_MODBUS_CRC');
  assert.equal(
    toModbusError(new Error('Data length error, expected 7 got 5')).code,
    'EDGE_ERR_MODBUS_BAD_RESPONSE',
  );
  assert.equal(
    toModbusError(new Error('Unexpected data error, expected address 1 got 2')).code,
    'EDGE_ERR_MODBUS_BAD_RESPONSE',
  );
  assert.equal(
    toModbusError({ name: 'PortNotOpenError', message: 'Port Not Open', errno: 'ECONNREFUSED' }).code,
    'EDGE_ERR_MODBUS_DISCONNECTED',
  );
  assert.equal(
    toModbusError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })).code,
    'EDGE_ERR_MODBUS_DISCONNECTED',
  );
  assert.equal(
    toModbusError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'connect').code,
    'EDGE_ERR_MODBUS_CONNECT',
  );
  assert.equal(
    toModbusError(new Error('Error: No such file or directory, cannot open /dev/ttyX'), 'connect').code,
    'EDGE_ERR_MODBUS_CONNECT',
  );
});
