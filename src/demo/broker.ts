/**
 * An embedded MQTT broker for the demo (aedes 1.x over node:net). aedes is an optional
 * dependency: it is imported on first use and a clear error says how to install it.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { silentLogger, type Logger } from '../core/ports.js';

export interface BrokerOptions {
  readonly host?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  readonly logger?: Logger;
  /** Called for every client publish (not for the broker's own $SYS messages). */
  readonly onPublish?: (message: {
    topic: string;
    payload: Buffer;
    qos: number;
    clientId: string | null;
  }) => void;
}

export interface EmbeddedBroker {
  /** mqtt://host:port */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** The part of aedes' API used here (kept local: aedes is optional). */
interface AedesLike {
  handle(stream: Socket): unknown;
  on(
    event: 'publish',
    fn: (
      packet: { topic: string; payload: Buffer | string; qos: number },
      client: { id: string } | null,
    ) => void,
  ): unknown;
  on(
    event: 'clientError' | 'connectionError',
    fn: (client: { id?: string } | null, err: Error) => void,
  ): unknown;
  close(cb?: () => void): void;
}
interface AedesModule {
  Aedes: { createBroker(opts?: object): Promise<AedesLike> };
}

async function loadAedes(): Promise<AedesModule> {
  const specifier = 'aedes';
  try {
    return (await import(specifier)) as AedesModule;
  } catch (err) {
    throw new Error(
      'the embedded MQTT broker needs the optional dependency "aedes" (npm install aedes@^1.2.0), or pass --mqtt-url to use an external broker',
      { cause: err },
    );
  }
}

export async function startEmbeddedBroker(options: BrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const logger = (options.logger ?? silentLogger).child({ component: 'mqtt-broker' });
  const { Aedes } = await loadAedes();
  const aedes = await Aedes.createBroker();

  aedes.on('clientError', (client, err) =>
    logger.debug({ clientId: client?.id, err: err.message }, 'mqtt client error'),
  );
  aedes.on('connectionError', (_client, err) => logger.debug({ err: err.message }, 'mqtt connection error'));
  const onPublish = options.onPublish;
  if (onPublish) {
    aedes.on('publish', (packet, client) => {
      if (packet.topic.startsWith('$SYS/')) return;
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      try {
        onPublish({ topic: packet.topic, payload, qos: packet.qos, clientId: client?.id ?? null });
      } catch (err) {
        logger.warn({ err }, 'onPublish hook failed');
      }
    });
  }

  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw new Error(
      `embedded MQTT broker cannot listen on ${host}:${options.port ?? 0}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  server.on('error', (err) => logger.warn({ err }, 'mqtt broker listener error'));

  const port = (server.address() as AddressInfo).port;
  const url = `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ url }, 'embedded MQTT broker listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await closed;
      })();
      return closing;
    },
  };
}
