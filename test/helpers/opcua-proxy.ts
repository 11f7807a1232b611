/**
 * A TCP relay between an OPC UA client and the test server: `cut()` resets every relayed
 * connection while the server keeps running (a network blip, not a restart), so node-opcua
 * reconnects and re-activates its session, which the server still holds.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TcpRelay {
  private constructor(
    private readonly server: Server,
    private readonly sockets: Set<Socket>,
    readonly port: number,
  ) {}

  static async start(upstreamPort: number): Promise<TcpRelay> {
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = connect(upstreamPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    return new TcpRelay(server, sockets, port);
  }

  /** The server's endpoint as seen through the relay. */
  endpoint(serverEndpoint: string): string {
    return serverEndpoint.replace(/:\d+\//, `:${this.port}/`);
  }

  /** Resets every relayed connection (both sides); new connections are relayed again. */
  cut(): void {
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
