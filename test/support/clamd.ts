import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { ClamdClient } from '@app/scanning';
import { freePort } from '../../scripts/support/local-services';

/** The EICAR anti-virus test string: harmless, and detected by every scanner that carries its signature. */
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

/** The name our own signature gives it; clamd marks signatures not from its official databases `.UNOFFICIAL`. */
export const EICAR_SIGNATURE = 'Filehub.Test.EICAR.UNOFFICIAL';

export interface Clamd {
  /** `tcp://127.0.0.1:<port>`, for CLAMAV_ADDRESS. */
  address: string;
  port: number;
  /** The StreamMaxLength it was started with. */
  streamMaxBytes: number;
  /** Its configuration, database and log. */
  dir: string;
  readonly running: boolean;
  stop(): Promise<void>;
  /** Starts it again on the same port with the same database (after stop). */
  start(): Promise<void>;
  /**
   * A signature update: rewrites the database with or without the EICAR signature and, if clamd is running,
   * restarts it so that it loads the new one (what freshclam's update and clamd's reload do in production).
   */
  setEicarSignature(present: boolean): Promise<void>;
}

function clamdBinary(): string {
  for (const candidate of [process.env.CLAMD_BIN, '/usr/sbin/clamd', '/usr/bin/clamd', '/usr/local/sbin/clamd']) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  throw new Error('clamd is not installed: apt-get install -y clamav-daemon (.ci/run does this), or set CLAMD_BIN');
}

/**
 * The test database: the EICAR body signature (`Name:TargetType:Offset:HexSignature`, target 0 = any file, offset
 * * = anywhere), or, without it, only a placeholder (clamd refuses to start with no signature at all).
 */
function testDatabase(eicar: boolean): string {
  const placeholder = `Filehub.Test.Placeholder:0:*:${Buffer.from('filehub placeholder signature, in no test file').toString('hex')}\n`;
  return eicar ? `${placeholder}Filehub.Test.EICAR:0:*:${Buffer.from(EICAR).toString('hex')}\n` : placeholder;
}

/**
 * A clamd of our own (Debian's clamav-daemon), since the signature mirror is out of reach: a temporary directory
 * holds its clamd.conf and one database file, `filehub-test.ndb`, with a body signature for the EICAR string
 * (unless `eicar: false`). It listens on a free loopback port, logs into the directory only, and is ready once it
 * answers PING with PONG.
 */
export async function startClamd(options: { streamMaxBytes?: number; eicar?: boolean } = {}): Promise<Clamd> {
  const binary = clamdBinary();
  const dir = await mkdtemp(join(tmpdir(), 'filehub-clamd-'));
  const port = await freePort();
  const streamMaxBytes = options.streamMaxBytes ?? 1024 * 1024;
  await writeFile(join(dir, 'filehub-test.ndb'), testDatabase(options.eicar ?? true));
  await writeFile(
    join(dir, 'clamd.conf'),
    [
      'Foreground yes',
      `TCPSocket ${port}`,
      'TCPAddr 127.0.0.1',
      `DatabaseDirectory ${dir}`,
      `LogFile ${join(dir, 'clamd.log')}`,
      'LogSyslog no',
      `TemporaryDirectory ${dir}`,
      `StreamMaxLength ${streamMaxBytes}`,
      // Loading only our signature takes a moment; nothing else to check for changes.
      'SelfCheck 0',
      '',
    ].join('\n'),
  );
  const client = new ClamdClient({ address: { kind: 'tcp', host: '127.0.0.1', port }, timeoutMs: 2000, maxStreamBytes: streamMaxBytes });
  let child: ChildProcess | undefined;
  let output = '';

  const start = async () => {
    output = '';
    const started = spawn(binary, ['-c', join(dir, 'clamd.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    started.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    started.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<void>((resolve) => started.once('exit', () => resolve()));
    for (let attempt = 0; ; attempt++) {
      if (started.exitCode !== null || started.signalCode !== null) {
        const log = await readFile(join(dir, 'clamd.log'), 'utf8').catch(() => '');
        throw new Error(`clamd exited before answering PING:\n${output}\n${log}`);
      }
      try {
        await client.ping();
        return;
      } catch {
        if (attempt > 600) {
          started.kill('SIGKILL');
          await exited;
          throw new Error(`clamd did not answer PING within a minute:\n${output}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((r) => running.once('exit', r));
    running.kill('SIGTERM');
    await exited;
  };

  await start();
  return {
    address: `tcp://127.0.0.1:${port}`,
    port,
    streamMaxBytes,
    get running() {
      return child !== undefined;
    },
    start,
    dir,
    stop,
    async setEicarSignature(present: boolean) {
      await writeFile(join(dir, 'filehub-test.ndb'), testDatabase(present));
      if (child === undefined) return;
      await stop();
      await start();
    },
  };
}

/** Stops clamd and removes its directory. */
export async function stopClamd(clamd: Clamd | undefined): Promise<void> {
  if (!clamd) return;
  await clamd.stop();
  await rm(clamd.dir, { recursive: true, force: true });
}

export interface VersionedClamd {
  address: string;
  /** INSTREAM conversations passed on to the real clamd. */
  readonly scans: number;
  /** What VERSION answers, e.g. `ClamAV 1.4.6/27999/Thu Nov 26 07:00:00 2026`: change it to simulate a database update. */
  version: string;
  close(): Promise<void>;
}

/**
 * A real clamd made to report an official database version. Our test signatures live in a local `.ndb`, which
 * VERSION does not show (and an official database cannot be made here: they are signed), so this proxy answers
 * VERSION itself and passes every other conversation, bytes untouched, to the real clamd, counting the scans.
 */
export async function versionedClamd(clamd: Clamd, version: string): Promise<VersionedClamd> {
  let scans = 0;
  const sockets = new Set<Socket>();
  const state = { version };
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    let head = Buffer.alloc(0);
    const onData = (data: Buffer) => {
      head = Buffer.concat([head, data]);
      const nul = head.indexOf(0);
      if (nul < 0) return;
      client.off('data', onData);
      client.pause();
      if (head.subarray(0, nul).toString() === 'zVERSION') {
        client.end(`${state.version}\0`);
        return;
      }
      scans++;
      const upstream = connect({ host: '127.0.0.1', port: clamd.port }, () => {
        upstream.write(head);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
    };
    client.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    address: `tcp://127.0.0.1:${port}`,
    get scans() {
      return scans;
    },
    get version() {
      return state.version;
    },
    set version(value: string) {
      state.version = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
