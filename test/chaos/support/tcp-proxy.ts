import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between the service and one of its backing services, to inject network faults: every chunk can be
 * delayed, traffic paused (a black hole: connections stay open, nothing moves), the service stalled (the same, and
 * reset when it comes back), live connections cut, and new connections refused. Listens on 127.0.0.1 on a port of
 * its own.
 */
export class TcpProxy {
  /** Added to every chunk, both ways. */
  delayMs = 0;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  /** Connections accepted during a stall: never connected upstream, never read. */
  private readonly held = new Set<Socket>();
  private paused = false;
  private stalled = false;
  private refusing = false;
  private connectionsSeen = 0;
  private forwarded = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => proxy!.accept(client, targetPort, targetHost));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    proxy = new TcpProxy(server, typeof address === 'object' && address ? address.port : 0);
    return proxy;
  }

  /** Connections accepted since start (refused ones included). */
  get connections(): number {
    return this.connectionsSeen;
  }

  /** Bytes passed on to the target since start. */
  get bytesToTarget(): number {
    return this.forwarded;
  }

  /** Connections open right now. */
  get open(): number {
    return this.pairs.size;
  }

  /** Stops moving bytes (both ways, every connection, new ones too) until resume(). */
  pause(): void {
    this.paused = true;
    for (const { client, upstream } of this.pairs) {
      client.pause();
      upstream.pause();
    }
  }

  resume(): void {
    this.paused = false;
    for (const { client, upstream } of this.pairs) {
      client.resume();
      upstream.resume();
    }
  }

  /**
   * While on, the service behind stops answering without closing anything: open connections stop moving, new ones
   * are accepted and held (nothing read, nothing forwarded, never closed). Turning it off resets every connection of
   * the stall, as a service restarted behind a live network would (what was sent meanwhile is lost, not delivered
   * late); new connections go through again.
   */
  stall(on: boolean): void {
    if (on) {
      this.stalled = true;
      this.pause();
      return;
    }
    this.cut();
    for (const client of this.held) client.resetAndDestroy();
    this.held.clear();
    this.stalled = false;
    this.resume();
  }

  /** Resets every live connection (both ends see the connection drop). */
  cut(): void {
    for (const { client, upstream } of this.pairs) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    this.pairs.clear();
  }

  /** While on, new connections are reset at once (the service looks down); live ones are cut too. */
  refuse(on: boolean): void {
    this.refusing = on;
    if (on) this.cut();
  }

  async close(): Promise<void> {
    this.cut();
    for (const client of this.held) client.resetAndDestroy();
    this.held.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, targetPort: number, targetHost: string): void {
    this.connectionsSeen++;
    if (this.refusing) {
      client.resetAndDestroy();
      return;
    }
    if (this.stalled) {
      client.pause();
      this.held.add(client);
      client.on('error', () => this.held.delete(client));
      client.on('close', () => this.held.delete(client));
      return;
    }
    const upstream = connect(targetPort, targetHost);
    const pair = { client, upstream };
    this.pairs.add(pair);
    // An error on either side drops both at once; a side that closes cleanly is followed once its delayed bytes are out.
    const drop = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    const closed = () => {
      if (client.destroyed && upstream.destroyed) this.pairs.delete(pair);
    };
    client.on('close', closed);
    upstream.on('close', closed);
    this.pipe(client, upstream, (n) => (this.forwarded += n));
    this.pipe(upstream, client);
    if (this.paused) {
      client.pause();
      upstream.pause();
    }
  }

  // Chunks keep their order: each waits for the previous one's delay.
  private pipe(from: Socket, to: Socket, count?: (bytes: number) => void): void {
    let tail = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      count?.(chunk.length);
      const delay = this.delayMs;
      if (delay <= 0) {
        tail = tail.then(() => {
          if (!to.destroyed) to.write(chunk);
        });
        return;
      }
      from.pause();
      tail = tail
        .then(() => new Promise<void>((r) => setTimeout(r, delay)))
        .then(() => {
          if (!to.destroyed) to.write(chunk);
          if (!this.paused && !from.destroyed) from.resume();
        });
    });
    from.on('end', () => {
      void tail.then(() => to.end());
    });
    from.on('close', () => {
      void tail.then(() => {
        if (!to.destroyed) to.destroySoon();
      });
    });
  }
}
