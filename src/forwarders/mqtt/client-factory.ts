/**
 * The mqtt.js client for a broker URL, built on our own TCP/TLS stream instead of
 * `mqtt.connect`. Two reasons:
 * - mqtt.connect upgrades a URL to TLS when a client certificate and key are given, by a
 *   table that knows mqtt:// and ws:// but not tls:// or tcp://: `tls://` with mutual TLS
 *   threw "Unknown protocol for secure connection" at every attempt, so such a station never
 *   connected (fixture `tls-scheme-client-cert`). Here the transport is decided once, by
 *   `transportOf`, with mqtt.js's upgrade rule kept for mqtt:// (a config that relied on it
 *   still gets TLS).
 * - Its first call loads every transport it knows (ws, SOCKS, their packages: ~1.3 MB of
 *   heap that stays) although a station speaks TCP or TLS.
 * WebSocket URLs and a SOCKS proxy (MQTTJS_SOCKS_PROXY) still go through mqtt.connect, as
 * before: rare on a station, and that is where their code lives.
 */
import { isIP, createConnection } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export type MqttTransport = 'tcp' | 'tls' | 'ws' | 'wss';

/** The transport of a broker URL (schemes as mqttSchema allows them) and its options. */
export function transportOf(url: string, opts: Pick<IClientOptions, 'cert' | 'key'>): MqttTransport {
  const scheme = /^([a-z]+):/i.exec(url)?.[1]?.toLowerCase();
  const clientCert = opts.cert !== undefined && opts.key !== undefined;
  switch (scheme) {
    case 'mqtts':
    case 'tls':
      return 'tls';
    case 'mqtt':
    case 'tcp':
      return clientCert ? 'tls' : 'tcp';
    case 'ws':
      return clientCert ? 'wss' : 'ws';
    case 'wss':
      return 'wss';
    default:
      throw new Error(
        `unsupported broker URL scheme "${scheme ?? ''}" (expected mqtt, mqtts, tcp, tls, ws or wss)`,
      );
  }
}

/** Host, port and credentials of a broker URL; user info percent-decoded, IPv6 brackets removed. */
function endpointOf(
  url: string,
  transport: 'tcp' | 'tls',
): { host: string; port: number; auth: IClientOptions } {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost';
  const port = u.port === '' ? (transport === 'tls' ? 8883 : 1883) : Number(u.port);
  const auth: IClientOptions = {};
  if (u.username !== '') auth.username = decodeURIComponent(u.username);
  if (u.password !== '') auth.password = decodeURIComponent(u.password);
  const clientId = u.searchParams.get('clientId');
  if (clientId !== null) auth.clientId = clientId;
  return { host, port, auth };
}

/** mqtt.js's TLS stream (connect/tls.js): an unauthorised peer is an error on the client, and the socket ends. */
function tlsStream(client: MqttClient, options: ConnectionOptions): TLSSocket {
  const socket = tlsConnect(options);
  const rejectUnauthorized = options.rejectUnauthorized !== false;
  const onError = (err: Error): void => {
    if (rejectUnauthorized) client.emit('error', err);
    socket.end();
  };
  socket.on('secureConnect', () => {
    if (rejectUnauthorized && !socket.authorized) socket.emit('error', new Error('TLS not authorized'));
    else socket.removeListener('error', onError);
  });
  socket.on('error', onError);
  return socket;
}

/**
 * A client that has not connected yet when `opts.manualConnect` (the forwarder wraps its
 * socket first). URL credentials and `?clientId=` win over `opts`, as with mqtt.connect.
 */
export function createMqttClient(url: string, opts: IClientOptions): MqttClient {
  const transport = transportOf(url, opts);
  const socks = opts.socksProxy ?? process.env.MQTTJS_SOCKS_PROXY;
  if (transport === 'ws' || transport === 'wss' || socks !== undefined) return mqtt.connect(url, opts);
  const { host, port, auth } = endpointOf(url, transport);
  const options: IClientOptions = {
    ...opts,
    ...auth,
    host,
    hostname: host,
    port,
    protocol: transport === 'tls' ? 'mqtts' : 'mqtt',
  };
  const build = (client: MqttClient) =>
    transport === 'tcp'
      ? createConnection({ host, port })
      : tlsStream(client, {
          ...(options as ConnectionOptions),
          host,
          port,
          rejectUnauthorized: options.rejectUnauthorized !== false,
          ...(isIP(host) === 0 && options.servername === undefined ? { servername: host } : {}),
        });
  return new mqtt.MqttClient(build, options);
}
