import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { StallGuardHttpHandler } from './stall-guard.handler';
import { StorageStalledError } from './storage.driver';

// The handler against a real HTTP server on loopback that misbehaves the way a stalled store does.

const IDLE_MS = 200;

type Route = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(route: Route): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer(route);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function request(port: number, method: string, body?: Buffer): Parameters<StallGuardHttpHandler['handle']>[0] {
  const headers: Record<string, string> = body ? { 'content-length': String(body.length) } : {};
  return { protocol: 'http:', hostname: '127.0.0.1', port, method, path: '/', query: {}, headers, body } as Parameters<StallGuardHttpHandler['handle']>[0];
}

async function readAll(body: Readable, pauseAfter?: { bytes: number; ms: number }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let received = 0;
  let paused = false;
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
    received += (chunk as Buffer).length;
    if (pauseAfter && !paused && received >= pauseAfter.bytes) {
      // The consumer stops asking: backpressure up to the server.
      paused = true;
      await new Promise((resolve) => setTimeout(resolve, pauseAfter.ms));
    }
  }
  return Buffer.concat(chunks);
}

describe('StallGuardHttpHandler', () => {
  let handler: StallGuardHttpHandler;
  let server: { port: number; close(): Promise<void> } | undefined;

  beforeEach(() => {
    handler = new StallGuardHttpHandler(IDLE_MS);
  });
  afterEach(async () => {
    handler.destroy();
    await server?.close();
    server = undefined;
  });

  it("reads a stream body only once it is sent: refused up front, the store's answer is read and the body left whole", async () => {
    // S3 refusing an `Expect: 100-continue` (SlowDown, NoSuchUpload…): the error is the SDK's to read, and the
    // caller's stream must still be whole for the SDK's retry.
    const answer = '<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';
    const refusing = createServer(() => undefined);
    refusing.on('checkContinue', (_req, res) => {
      res.writeHead(503, { 'content-type': 'application/xml', 'content-length': String(answer.length) });
      res.end(answer);
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    server = { port: (refusing.address() as { port: number }).port, close: () => new Promise((resolve) => refusing.close(() => resolve())) };
    const bytes = randomBytes(256 * 1024);
    const source = Readable.from([bytes.subarray(0, 128 * 1024), bytes.subarray(128 * 1024)], { objectMode: false });
    const sent = request(server.port, 'PUT');
    sent.headers = { 'content-length': String(bytes.length), expect: '100-continue' };
    sent.body = source;
    const { response } = await handler.handle(sent);
    expect(response.statusCode).toBe(503);
    expect((await readAll(response.body as Readable)).toString()).toBe(answer);
    expect({ read: source.readableDidRead, destroyed: source.destroyed }).toEqual({ read: false, destroyed: false });
    expect(Buffer.concat(await source.toArray()).equals(bytes)).toBe(true);
  });

  it('fails the request with the error of a stream body that breaks mid-send (not an uncaught exception)', async () => {
    server = await serve((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    let sent = 0;
    const source = new Readable({
      read() {
        if (sent++ < 4) this.push(randomBytes(64 * 1024));
        else this.destroy(new Error('EIO: the part file could not be read'));
      },
    });
    const req = request(server.port, 'PUT');
    req.headers = { 'content-length': String(1024 * 1024) };
    req.body = source;
    await expect(handler.handle(req)).rejects.toThrow('EIO: the part file could not be read');
  });

  it('fails a request whose answer never comes with StorageStalledError', async () => {
    server = await serve(() => undefined);
    await expect(handler.handle(request(server.port, 'GET'))).rejects.toThrow(StorageStalledError);
  });

  it('fails an upload the server stops reading', async () => {
    // Never reads the body: once the socket buffers are full, our writes make no progress.
    server = await serve((req) => req.socket.pause());
    await expect(handler.handle(request(server.port, 'PUT', randomBytes(64 * 1024 * 1024)))).rejects.toMatchObject({ name: 'StorageStalledError', phase: 'request' });
  });

  it('fails a body the server stops sending while it is being read', async () => {
    server = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(1024 * 1024) });
      res.write(randomBytes(64 * 1024));
    });
    const { response } = await handler.handle(request(server.port, 'GET'));
    await expect(readAll(response.body as Readable)).rejects.toMatchObject({ name: 'StorageStalledError', phase: 'response' });
  });

  it('does not cut a body whose reader pauses longer than the stall time-out (backpressure)', async () => {
    const bytes = randomBytes(32 * 1024 * 1024);
    server = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(bytes.length) });
      res.end(bytes);
    });
    const { response } = await handler.handle(request(server.port, 'GET'));
    const received = await readAll(response.body as Readable, { bytes: 64 * 1024, ms: 3 * IDLE_MS });
    expect(received.equals(bytes)).toBe(true);
  });
});
