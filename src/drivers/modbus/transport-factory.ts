/**
 * The transport a new line gets (the family's default TransportFactory). tcp: the agent's
 * own Modbus TCP client (tcp/transport.ts: transaction ids matched, less work per request
 * than modbus-serial's). rtu: a stand-in that loads the serial transport at its first
 * connect (serial-deferred.ts): the agent's RTU framer with echoSuppression, modbus-serial
 * otherwise. DTU lines take their link's transport from the hub, not from here.
 */
import type { TransportFactory } from './port.js';
import { deferredSerialTransport } from './serial-deferred.js';
import { ModbusTcpTransport } from './tcp/transport.js';

export const defaultTransportFactory: TransportFactory = (connection, clock) =>
  connection.transport === 'tcp'
    ? new ModbusTcpTransport({ host: connection.host, port: connection.port, clock })
    : deferredSerialTransport(connection, clock);
