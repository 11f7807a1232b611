/** Modbus device configuration: schema with defaults beside it (one schema per section). */
import { z } from 'zod';
import {
  backoffSchema,
  breakerSchema,
  deviceIntervalMs,
  polledTagFields,
  topicSegment,
} from '../../config-kit/common.js';
import { writeRangeFields, writeRangeIssues } from '../../config-kit/write-range.js';

const MODBUS_MAX_REGISTERS = 125;
const MODBUS_MAX_BITS = 2000;

const modbusFunctionSchema = z.enum(['coil', 'discrete', 'holding', 'input']);
export type ModbusFunction = z.infer<typeof modbusFunctionSchema>;

const modbusDataTypeSchema = z.enum(['bool', 'u16', 'i16', 'u32', 'i32', 'f32', 'f64', 'string']);
export type ModbusDataType = z.infer<typeof modbusDataTypeSchema>;

const byteOrder = z.enum(['big', 'little']);

export const modbusTagSchema = z
  .strictObject({
    name: topicSegment.describe('Tag name, the key in the telemetry values'),
    function: modbusFunctionSchema,
    address: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .describe('Zero-based protocol address (register 40001 is holding 0)'),
    type: modbusDataTypeSchema.default('u16'),
    wordOrder: byteOrder
      .default('big')
      .describe('Order of 16-bit words in 32/64-bit values; little = low word first'),
    byteOrder: byteOrder.default('big').describe('Order of the two bytes inside each register'),
    length: z
      .number()
      .int()
      .min(1)
      .max(MODBUS_MAX_REGISTERS)
      .optional()
      .describe('Registers for type string'),
    bit: z.number().int().min(0).max(15).optional().describe('For type bool on a register: the bit to read'),
    ...polledTagFields,
    writable: z
      .boolean()
      .default(false)
      .describe(
        'Commands may write this tag (coils: FC05; holding registers: FC06 for one register, FC16 for more). Needs commands.allowWrites too',
      ),
    ...writeRangeFields,
  })
  .superRefine((tag, ctx) => {
    const isBitArea = tag.function === 'coil' || tag.function === 'discrete';
    if (isBitArea && tag.type !== 'bool') {
      ctx.addIssue({
        code: 'custom',
        path: ['type'],
        message: `a ${tag.function} tag must have type bool, not ${tag.type}`,
      });
    }
    if (tag.type === 'string' && tag.length === undefined) {
      ctx.addIssue({ code: 'custom', path: ['length'], message: 'a string tag needs length (registers)' });
    }
    if (tag.type !== 'string' && tag.length !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['length'], message: 'length applies to string tags only' });
    }
    if (tag.bit !== undefined && (isBitArea || tag.type !== 'bool')) {
      ctx.addIssue({
        code: 'custom',
        path: ['bit'],
        message: 'bit applies to bool tags on holding/input registers only',
      });
    }
    if (tag.writable && (tag.function === 'input' || tag.function === 'discrete')) {
      ctx.addIssue({
        code: 'custom',
        path: ['writable'],
        message: `${tag.function} ${tag.function === 'input' ? 'registers' : 'inputs'} are read-only in Modbus`,
      });
    }
    if (tag.writable && tag.bit !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['writable'],
        message:
          'a bit inside a register cannot be written (read-modify-write is not atomic); use a coil or the whole register',
      });
    }
    const numeric = tag.type !== 'bool' && tag.type !== 'string';
    for (const issue of writeRangeIssues(tag, numeric)) ctx.addIssue({ code: 'custom', ...issue });
    const words = registerCount(tag.type, tag.length);
    if (!isBitArea && tag.address <= 65535 && tag.address + words > 65536) {
      ctx.addIssue({
        code: 'custom',
        path: ['address'],
        message: `tag runs past register 65535 (${words} registers)`,
      });
    }
  });
export type ModbusTagConfig = z.infer<typeof modbusTagSchema>;

/** Registers a value of this type occupies. */
export function registerCount(type: ModbusDataType, length?: number): number {
  switch (type) {
    case 'bool':
    case 'u16':
    case 'i16':
      return 1;
    case 'u32':
    case 'i32':
    case 'f32':
      return 2;
    case 'f64':
      return 4;
    case 'string':
      return length ?? 1;
  }
}

const tcpConnection = z.strictObject({
  transport: z.literal('tcp'),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(502),
});

const rtuConnection = z.strictObject({
  transport: z.literal('rtu'),
  path: z.string().min(1).describe('Serial device, e.g. /dev/ttyUSB0 or /dev/serial/by-id/…'),
  baudRate: z.number().int().positive().default(9600),
  dataBits: z.union([z.literal(7), z.literal(8)]).default(8),
  parity: z.enum(['none', 'even', 'odd']).default('none'),
  stopBits: z.union([z.literal(1), z.literal(2)]).default(1),
  interFrameGapMs: z
    .number()
    .min(0)
    .max(1000)
    .optional()
    .describe('Silence between frames; default 3.5 chars, at least 2 ms'),
  echoSuppression: z
    .boolean()
    .default(false)
    .describe(
      "Drop an exact echo of each request (RS-485 adapters that echo what they send); uses the agent's own RTU framer",
    ),
});

const dtuConnection = z.strictObject({
  transport: z.literal('dtu'),
  dtu: topicSegment.describe('Name of a link in the top-level dtu.links (RTU frames over the DTU socket)'),
  interFrameGapMs: z
    .number()
    .min(0)
    .max(1000)
    .default(0)
    .describe('Silence kept between requests on the link (the DTU frames the serial side)'),
});

export const modbusDeviceSchema = z
  .strictObject({
    name: topicSegment.describe('Device name: the {device} topic level'),
    driver: z.literal('modbus'),
    connection: z.discriminatedUnion('transport', [tcpConnection, rtuConnection, dtuConnection]),
    unitId: z.number().int().min(0).max(255).default(1),
    timeoutMs: z.number().int().min(10).max(60_000).default(1000),
    retries: z
      .number()
      .int()
      .min(0)
      .max(5)
      .default(0)
      .describe('Extra attempts after a timeout, within one poll'),
    intervalMs: deviceIntervalMs,
    maxRegistersPerRequest: z.number().int().min(1).max(MODBUS_MAX_REGISTERS).default(MODBUS_MAX_REGISTERS),
    maxBitsPerRequest: z.number().int().min(1).max(MODBUS_MAX_BITS).default(MODBUS_MAX_BITS),
    maxGap: z
      .number()
      .int()
      .min(0)
      .max(100)
      .default(0)
      .describe('Unused registers a coalesced read may span'),
    writeFunction: z
      .enum(['auto', 'multiple'])
      .default('auto')
      .describe(
        'auto: FC05/FC06 for one coil/register, FC16 for more; multiple: always FC15/FC16 (devices without the single-write functions)',
      ),
    breaker: breakerSchema.prefault({}),
    reconnect: backoffSchema.prefault({}),
    quarantine: backoffSchema
      .prefault({})
      .describe(
        'Re-probe delays of a tag, or a register range inside a coalesced read, the device refused with exception 01/02/03 (grows per failed probe)',
      ),
    tags: z.array(modbusTagSchema).min(1),
  })
  .superRefine((device, ctx) => {
    const seen = new Map<string, number>();
    device.tags.forEach((tag, i) => {
      const first = seen.get(tag.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tags', i, 'name'],
          message: `duplicate tag name "${tag.name}" (also tags[${first}])`,
        });
      } else seen.set(tag.name, i);
    });
  });
export type ModbusDeviceConfig = z.infer<typeof modbusDeviceSchema>;
