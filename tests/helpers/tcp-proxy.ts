/**
 * A small TCP proxy for outage tests: clients connect to `port`, bytes are forwarded to the
 * target. `stop()` cuts every open connection and refuses new ones (the port stops listening);
 * `start()` listens again on the same port.
 */
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** connections accepted since the proxy was created */
  accepted = 0;

  private constructor(
    readonly targetHost: string,
    readonly targetPort: number,
    public port: number,
  ) {}

  /** Starts a proxy to `targetHost:targetPort` on a free local port (or on `port`). */
  static async open(targetHost: string, targetPort: number, port = 0): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetHost, targetPort, port);
    await proxy.start();
    return proxy;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => this.forward(client));
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP address');
    this.port = address.port;
    this.server = server;
  }

  /** Closes every connection at once (both sides) and stops listening. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  private forward(client: Socket): void {
    if (!this.server) {
      client.destroy();
      return;
    }
    this.accepted += 1;
    const upstream = connect(this.targetPort, this.targetHost);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
