/** Wire types of a Modbus device's published values (a definition's `tagTypes`). */
import { scaledValueType, type TagValueType } from '../../core/value-type.js';
import type { ModbusDataType, ModbusDeviceConfig } from './config.js';

const TYPES: Readonly<Record<ModbusDataType, TagValueType>> = {
  bool: 'Boolean',
  u16: 'UInt16',
  i16: 'Int16',
  u32: 'UInt32',
  i32: 'Int32',
  f32: 'Float',
  f64: 'Double',
  string: 'String',
};

export function modbusTagTypes(device: ModbusDeviceConfig): ReadonlyMap<string, TagValueType> {
  return new Map(device.tags.map((tag) => [tag.name, scaledValueType(TYPES[tag.type], tag)]));
}
