/** Wire types of an OPC UA device's published values (a definition's `tagTypes`). */
import { scaledValueType, type TagValueType } from '../../core/value-type.js';
import type { OpcuaDeviceConfig } from './config.js';

const TYPES: Readonly<Record<OpcuaDeviceConfig['tags'][number]['dataType'], TagValueType>> = {
  Boolean: 'Boolean',
  SByte: 'Int8',
  Byte: 'UInt8',
  Int16: 'Int16',
  UInt16: 'UInt16',
  Int32: 'Int32',
  UInt32: 'UInt32',
  Int64: 'Int64',
  UInt64: 'UInt64',
  Float: 'Float',
  Double: 'Double',
  String: 'String',
};

export function opcuaTagTypes(device: OpcuaDeviceConfig): ReadonlyMap<string, TagValueType> {
  return new Map(device.tags.map((tag) => [tag.name, scaledValueType(TYPES[tag.dataType], tag)]));
}
