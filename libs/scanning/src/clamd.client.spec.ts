import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseClamdAddress } from './clamd-address';
import { ClamdClient, parseScanReply, ScannerUnavailableError } from './clamd.client';
import { parseClamdVersion, verdictKey } from './virus-scanner';

/** What the fake clamd saw of one INSTREAM conversation. */
interface Received {
  command: string;
  chunkLengths: number[];
  bytes: Buffer;
  terminated: boolean;
}

type Behaviour = (socket: Socket, received: Received, event: 'command' | 'chunk' | 'end') => void;

/** A fake clamd that parses the framing byte by byte (in whatever pieces TCP delivers) and lets a test answer. */
async function fakeClamd(behaviour: Behaviour): Promise<{ server: Server; port: number; conversations: Received[]; close(): Promise<void> }> {
  const conversations: Received[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const received: Received = { command: '', chunkLengths: [], bytes: Buffer.alloc(0), terminated: false };
    conversations.push(received);
    let pending = Buffer.alloc(0);
    let inCommand = true;
    let want: number | null = null;
    const parts: Buffer[] = [];
    socket.on('error', () => undefined);
    socket.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      for (;;) {
        if (inCommand) {
          const nul = pending.indexOf(0);
          if (nul < 0) return;
          received.command = pending.subarray(0, nul).toString();
          pending = pending.subarray(nul + 1);
          inCommand = false;
          behaviour(socket, received, 'command');
          if (received.command !== 'zINSTREAM') return;
          continue;
        }
        if (received.terminated) return;
        if (want === null) {
          if (pending.length < 4) return;
          want = pending.readUInt32BE(0);
          pending = pending.subarray(4);
          if (want === 0) {
            received.terminated = true;
            received.bytes = Buffer.concat(parts);
            behaviour(socket, received, 'end');
            return;
          }
        }
        if (pending.length < want) return;
        parts.push(pending.subarray(0, want));
        received.chunkLengths.push(want);
        received.bytes = Buffer.concat(parts);
        pending = pending.subarray(want);
        want = null;
        behaviour(socket, received, 'chunk');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    server,
    port,
    conversations,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

function client(port: number, overrides: Partial<ConstructorParameters<typeof ClamdClient>[0]> = {}) {
  return new ClamdClient({ address: { kind: 'tcp', host: '127.0.0.1', port }, timeoutMs: 5000, maxStreamBytes: 10 * 1024 * 1024, ...overrides });
}

async function* pieces(...buffers: Buffer[]): AsyncGenerator<Buffer> {
  for (const b of buffers) yield b;
}

const answerAtEnd =
  (answer: string): Behaviour =>
  (socket, _received, event) => {
    if (event === 'end') socket.end(`${answer}\0`);
  };

describe('ClamdClient INSTREAM', () => {
  let fake: Awaited<ReturnType<typeof fakeClamd>> | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  it('sends zINSTREAM, length-prefixed chunks no larger than chunkBytes and a zero-length terminator', async () => {
    fake = await fakeClamd(answerAtEnd('stream: OK'));
    const body = [Buffer.alloc(10, 1), Buffer.alloc(0), Buffer.alloc(25, 2), Buffer.from('tail')];
    const verdict = await client(fake.port, { chunkBytes: 8 }).scan(pieces(...body));
    expect(verdict).toEqual({ result: 'clean' });
    const [seen] = fake.conversations;
    expect(seen.command).toBe('zINSTREAM');
    expect(seen.terminated).toBe(true);
    expect(seen.chunkLengths).toEqual([8, 2, 8, 8, 8, 1, 4]);
    expect(seen.bytes.equals(Buffer.concat(body))).toBe(true);
  });

  it('sends only the terminator for an empty body', async () => {
    fake = await fakeClamd(answerAtEnd('stream: OK'));
    await expect(client(fake.port).scan(pieces())).resolves.toEqual({ result: 'clean' });
    expect(fake.conversations[0].chunkLengths).toEqual([]);
    expect(fake.conversations[0].terminated).toBe(true);
  });

  it('reports the signature of a FOUND answer, even when it arrives in pieces', async () => {
    fake = await fakeClamd((socket, _r, event) => {
      if (event !== 'end') return;
      socket.write('stream: Win.Test.EIC');
      setImmediate(() => socket.end('AR_HDB-1 FOUND\0'));
    });
    await expect(client(fake.port).scan(pieces(Buffer.from('X5O!P%')))).resolves.toEqual({ result: 'infected', signature: 'Win.Test.EICAR_HDB-1' });
  });

  it("turns clamd's early 'INSTREAM size limit exceeded' into too-large and stops sending", async () => {
    const limit = 64 * 1024;
    fake = await fakeClamd((socket, received, event) => {
      if (event === 'chunk' && received.bytes.length > limit) socket.end('INSTREAM size limit exceeded. ERROR\0');
    });
    let produced = 0;
    async function* big() {
      // 64 MiB if it were all read: the client must stop long before.
      for (let i = 0; i < 1024; i++) {
        produced++;
        yield Buffer.alloc(64 * 1024, i);
      }
    }
    const verdict = await client(fake.port, { chunkBytes: 16 * 1024 }).scan(big());
    expect(verdict.result).toBe('too-large');
    expect((verdict as { detail: string }).detail).toContain('StreamMaxLength');
    expect(produced).toBeLessThan(1024);
  });

  it('refuses a stream over maxStreamBytes itself: by the known size without connecting, or while streaming', async () => {
    fake = await fakeClamd(answerAtEnd('stream: OK'));
    const small = client(fake.port, { maxStreamBytes: 100 });
    const bySize = await small.scan(pieces(Buffer.alloc(101)), { size: 101 });
    expect(bySize).toMatchObject({ result: 'too-large' });
    expect((bySize as { detail: string }).detail).toContain('CLAMAV_MAX_STREAM_BYTES=100');
    expect(fake.conversations).toHaveLength(0);
    await expect(small.scan(pieces(Buffer.alloc(60), Buffer.alloc(60)))).resolves.toMatchObject({ result: 'too-large' });
    await expect(small.scan(pieces(Buffer.alloc(60), Buffer.alloc(40)))).resolves.toEqual({ result: 'clean' });
  });

  it('fails with ScannerUnavailableError when nothing listens', async () => {
    fake = await fakeClamd(answerAtEnd('stream: OK'));
    const port = fake.port;
    await fake.close();
    fake = undefined;
    const error = await client(port).scan(pieces(Buffer.from('x'))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScannerUnavailableError);
    expect((error as Error).message).toMatch(/Cannot reach clamd at tcp:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  });

  it('fails with ScannerUnavailableError when clamd takes the bytes but never answers', async () => {
    fake = await fakeClamd(() => undefined);
    const error = await client(fake.port, { timeoutMs: 200 }).scan(pieces(Buffer.from('x'))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScannerUnavailableError);
    expect((error as Error).message).toContain('did not answer within 200 ms');
  });

  it('fails with ScannerUnavailableError when clamd hangs up without a verdict, or answers ERROR', async () => {
    fake = await fakeClamd((socket, _r, event) => {
      if (event === 'end') socket.end();
    });
    // A hang-up is clamd's failure; an ERROR reply may be this content's (a rescan goes on with the next file).
    await expect(client(fake.port).scan(pieces(Buffer.from('x')))).rejects.toMatchObject({ message: expect.stringMatching(/closed the connection without a verdict/), mayBeContent: false });
    await fake.close();
    fake = await fakeClamd(answerAtEnd("stream: Can't allocate memory ERROR"));
    await expect(client(fake.port).scan(pieces(Buffer.from('x')))).rejects.toThrow(ScannerUnavailableError);
    await expect(client(fake.port).scan(pieces(Buffer.from('x')))).rejects.toMatchObject({ mayBeContent: true });
  });

  it('streams with backpressure: a clamd that stops reading does not make the client read the whole body', async () => {
    fake = await fakeClamd((socket, _r, event) => {
      if (event === 'command') socket.pause();
    });
    let produced = 0;
    async function* huge() {
      for (let i = 0; i < 4096; i++) {
        produced++;
        yield Buffer.alloc(1024 * 1024);
      }
    }
    // 4 GiB offered; the kernel's socket buffers hold a few MiB, then writes wait until the inactivity timeout.
    await expect(client(fake.port, { timeoutMs: 300, maxStreamBytes: 2 ** 33 }).scan(huge())).rejects.toThrow(ScannerUnavailableError);
    expect(produced).toBeLessThan(256);
  });

  it('stops when the job is aborted', async () => {
    fake = await fakeClamd(() => undefined);
    const controller = new AbortController();
    const scanning = client(fake.port).scan(pieces(Buffer.from('x')), { signal: controller.signal });
    setImmediate(() => controller.abort(new Error('shutting down')));
    await expect(scanning).rejects.toThrow('shutting down');
  });

  it('passes a failing body stream through (a storage error is not a scanner error)', async () => {
    fake = await fakeClamd(answerAtEnd('stream: OK'));
    async function* broken() {
      yield Buffer.from('a');
      throw new Error('storage read failed');
    }
    const error = await client(fake.port).scan(broken()).catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(ScannerUnavailableError);
    expect((error as Error).message).toBe('storage read failed');
  });
});

describe('ClamdClient PING and VERSION', () => {
  it('speaks over a unix socket too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clamd-fake-'));
    const path = join(dir, 'clamd.ctl');
    const server = createServer((socket) => {
      socket.on('data', (data) => {
        const command = data.toString();
        if (command === 'zPING\0') socket.end('PONG\0');
        else if (command === 'zVERSION\0') socket.end('ClamAV 1.4.6/27000/Thu Nov 26 08:00:00 2026\0');
        else socket.end('UNKNOWN COMMAND\0');
      });
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const unix = new ClamdClient({ address: parseClamdAddress(`unix:${path}`), timeoutMs: 2000, maxStreamBytes: 1024 });
      await expect(unix.ping()).resolves.toBeUndefined();
      await expect(unix.version()).resolves.toBe('ClamAV 1.4.6/27000/Thu Nov 26 08:00:00 2026');
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('parseScanReply', () => {
  it.each([
    ['stream: OK\0', { result: 'clean' }],
    ['stream: OK', { result: 'clean' }],
    ['stream: Eicar-Test-Signature FOUND\0', { result: 'infected', signature: 'Eicar-Test-Signature' }],
    ['stream: Filehub.Test.EICAR.UNOFFICIAL FOUND', { result: 'infected', signature: 'Filehub.Test.EICAR.UNOFFICIAL' }],
  ])('%j', (reply, verdict) => {
    expect(parseScanReply(reply)).toEqual(verdict);
  });

  it('reads the size limit answer as too-large and anything else as unavailable', () => {
    expect(parseScanReply('INSTREAM size limit exceeded. ERROR\0').result).toBe('too-large');
    expect(() => parseScanReply('stream: lstat() failed ERROR')).toThrow(ScannerUnavailableError);
    expect(() => parseScanReply('')).toThrow(ScannerUnavailableError);
  });
});

describe('parseClamdAddress', () => {
  it.each([
    ['tcp://127.0.0.1:3310', { kind: 'tcp', host: '127.0.0.1', port: 3310 }],
    ['tcp://clamav:3310/', { kind: 'tcp', host: 'clamav', port: 3310 }],
    ['tcp://[::1]:3310', { kind: 'tcp', host: '::1', port: 3310 }],
    ['unix:/run/clamav/clamd.ctl', { kind: 'unix', path: '/run/clamav/clamd.ctl' }],
    ['unix:///run/clamav/clamd.ctl', { kind: 'unix', path: '/run/clamav/clamd.ctl' }],
  ])('%s', (raw, address) => {
    expect(parseClamdAddress(raw)).toEqual(address);
  });

  it.each(['127.0.0.1:3310', 'tcp://host', 'tcp://host:0', 'tcp://host:70000', 'unix:relative.sock', 'http://host:3310'])('refuses %s', (raw) => {
    expect(() => parseClamdAddress(raw)).toThrow(/must be|port/);
  });
});

describe('verdictKey', () => {
  it('is engine and database version when VERSION names a database, else null (no reuse)', () => {
    expect(verdictKey('ClamAV 1.4.6/27000/Thu Nov 26 08:00:00 2026')).toBe('ClamAV 1.4.6/27000');
    expect(verdictKey('ClamAV 1.4.6')).toBeNull();
  });
});

describe('parseClamdVersion', () => {
  it('takes engine, database version and date apart', () => {
    expect(parseClamdVersion('ClamAV 1.4.6/27000/Thu Nov 26 08:00:00 2026')).toEqual({ engine: '1.4.6', database: 27000, databaseDate: 'Thu Nov 26 08:00:00 2026' });
    expect(parseClamdVersion('ClamAV 1.4.6')).toEqual({ engine: '1.4.6', database: null, databaseDate: null });
  });
});
