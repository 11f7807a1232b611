/**
 * The type a published value has on the wire, named as OPC UA and Sparkplug B name their
 * basic types. Drivers declare it per tag (a definition's `tagTypes`); northbound formats
 * that carry datatypes (Sparkplug) map it to their own codes.
 */
export type TagValueType =
  | 'Boolean'
  | 'Int8'
  | 'Int16'
  | 'Int32'
  | 'Int64'
  | 'UInt8'
  | 'UInt16'
  | 'UInt32'
  | 'UInt64'
  | 'Float'
  | 'Double'
  | 'String';

/**
 * A scaled number (scale or offset set) is no longer the register's integer: 0.1 × i16 is a
 * fraction, u16 + offset may be negative or beyond 65535. It travels as Double.
 */
export function scaledValueType(
  type: TagValueType,
  tag: { readonly scale: number; readonly offset: number },
): TagValueType {
  if (type === 'Boolean' || type === 'String') return type;
  return tag.scale === 1 && tag.offset === 0 ? type : 'Double';
}
