import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat, unlink } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

// The raw baseline of the upload and download benchmarks: plain node:http, no framework, no hashing, no database.
// Run as its own process (`node baseline-server.js`), it prints {"port": n} once listening.
//
//   PUT|POST /upload?dir=<dir>[&fsync=1]        the body to a new file in <dir> (deleted after), answers {size}
//   PUT|POST /upload?bucket=<b>&key=<k>          the body to S3 as one streaming PutObject
//   PUT|POST /upload?bucket=<b>&key=<k>&parts=1  the body to S3 as a multipart upload (lib-storage, 8 MiB × 4, as the driver)
//   GET /download?path=<file>                    the file, honouring a single `Range: bytes=a-b`
//   GET /download?bucket=<b>&key=<k>             the object, the Range passed on to S3

const s3 = process.env.S3_ENDPOINT
  ? new S3Client({
      endpoint: process.env.S3_ENDPOINT.replace(/\/+$/, ''),
      region: process.env.S3_REGION,
      forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true',
      credentials: { accessKeyId: process.env.S3_ACCESS_KEY_ID!, secretAccessKey: process.env.S3_SECRET_ACCESS_KEY! },
      // As the service's driver: no default CRC32 on every request.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    })
  : undefined;

let uploads = 0;

async function upload(req: http.IncomingMessage, query: URLSearchParams): Promise<{ size: number }> {
  const dir = query.get('dir');
  if (dir) {
    const path = join(dir, `baseline-${process.pid}-${++uploads}`);
    await pipeline(req, createWriteStream(path, { flags: 'wx' }));
    if (query.get('fsync') === '1') {
      // As the local storage driver does before it commits.
      const handle = await open(path, 'r+');
      await handle.sync();
      await handle.close();
    }
    const { size } = await stat(path);
    await unlink(path);
    return { size };
  }
  if (!s3) throw new Error('S3_ENDPOINT is not set');
  const size = Number(req.headers['content-length']);
  if (query.get('parts') === '1') {
    await new Upload({ client: s3, params: { Bucket: query.get('bucket')!, Key: query.get('key')!, Body: req }, partSize: 8 * 1024 * 1024, queueSize: 4 }).done();
    return { size };
  }
  await s3.send(new PutObjectCommand({ Bucket: query.get('bucket')!, Key: query.get('key')!, Body: req, ContentLength: size }));
  return { size };
}

function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  const match = header ? /^bytes=(\d*)-(\d*)$/.exec(header) : null;
  if (!match) return undefined;
  const start = match[1] ? Number(match[1]) : size - Number(match[2]);
  const end = match[1] && match[2] ? Math.min(Number(match[2]), size - 1) : size - 1;
  return { start, end };
}

async function download(req: http.IncomingMessage, res: http.ServerResponse, query: URLSearchParams): Promise<void> {
  const path = query.get('path');
  if (path) {
    const { size } = await stat(path);
    const range = parseRange(req.headers.range, size);
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    res.writeHead(range ? 206 : 200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(end - start + 1),
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    });
    await pipeline(createReadStream(path, { start, end }), res);
    return;
  }
  if (!s3) throw new Error('S3_ENDPOINT is not set');
  const object = await s3.send(new GetObjectCommand({ Bucket: query.get('bucket')!, Key: query.get('key')!, Range: req.headers.range }));
  res.writeHead(object.ContentRange ? 206 : 200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(object.ContentLength),
    ...(object.ContentRange ? { 'Content-Range': object.ContentRange } : {}),
  });
  await pipeline(object.Body as Readable, res);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://baseline');
  const fail = (error: unknown) => {
    if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: String(error) }));
    else res.destroy();
  };
  if (url.pathname === '/upload') {
    upload(req, url.searchParams).then((body) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body)), fail);
  } else if (url.pathname === '/download') {
    download(req, res, url.searchParams).catch(fail);
  } else {
    res.writeHead(404).end();
  }
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`));
// The parent going away (its end of our stdin closes) ends us.
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
