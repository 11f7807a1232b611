/** Wire types of an S7 device's published values (a definition's `tagTypes`). */
import { scaledValueType, type TagValueType } from '../../core/value-type.js';
import { parseS7Address, type S7Type } from './address.js';
import { publishedNames, type S7DeviceConfig } from './config.js';

const TYPES: Readonly<Record<S7Type, TagValueType>> = {
  BOOL: 'Boolean',
  BYTE: 'UInt8',
  CHAR: 'String',
  WORD: 'UInt16',
  INT: 'Int16',
  DWORD: 'UInt32',
  DINT: 'Int32',
  REAL: 'Float',
  LREAL: 'Double',
  LINT: 'Int64',
  STRING: 'String',
  TIMER: 'UInt32',
  COUNTER: 'UInt16',
};

/**
 * Array elements publish as name.0, name.1, …: each gets the element's type (a type guessed
 * from a first value of 2 would refuse the REAL 2.5 that follows).
 */
export function s7TagTypes(device: S7DeviceConfig): ReadonlyMap<string, TagValueType> {
  const out = new Map<string, TagValueType>();
  for (const tag of device.tags) {
    const parsed = parseS7Address(tag.address);
    if (!parsed.ok) continue;
    const type = scaledValueType(TYPES[parsed.address.type], tag);
    for (const name of publishedNames(tag.name, parsed.address)) out.set(name, type);
  }
  return out;
}
