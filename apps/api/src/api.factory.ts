import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { pinoHttp } from 'pino-http';
import type { AppConfig } from '@app/config';
import { createRootLogger, logContext, PinoNestLogger } from '@app/logging';
import { JobRegistry, OutboxRelay, QUEUE_DRIVER, type QueueDriver } from '@app/queue';
import graphqlUploadExpress from 'graphql-upload/graphqlUploadExpress.mjs';
import { useStorageSafeBodyParsers } from '@app/storage';
import { scheduleLifecycleJobs } from '@app/files';
import { MetricsService } from '@app/metrics';
import { mountQueueBoard } from './admin/queue-board';
import { serveConsole } from './console/console-assets';
import { buildOpenApiDocument, serveOpenApi } from './docs/openapi-document';
import { AppModule } from './app.module';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Builds the API application (used by main.ts and by the end-to-end tests). */
export async function createApiApp(config: AppConfig): Promise<NestExpressApplication> {
  const root = createRootLogger(config.logLevel, 'api');
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    logger: new PinoNestLogger(root),
    // Body parsers are installed below so signed storage PUTs reach their handler as a raw stream.
    bodyParser: false,
    abortOnError: false,
    // Keep-alive sockets must not hold shutdown open once their requests are done.
    forceCloseConnections: false,
  });
  app.disable('x-powered-by');
  app.set('trust proxy', config.http.trustProxy);
  // Request id first, so every later line (access log, Nest logs, errors) carries it.
  app.use((req: Request, res: Response, next: NextFunction) => {
    const incoming = req.headers['x-request-id'];
    const reqId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', reqId);
    logContext.run({ reqId }, next);
  });
  // Request counts and durations by route pattern (never the raw URL, so ids don't explode the label set).
  const metrics = app.get(MetricsService);
  app.use((req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    // Bytes in: the declared body length, else what the socket read while this request was served (chunked
    // uploads); bytes out: what the socket wrote meanwhile (keep-alive connections serve one request at a time).
    const socket = req.socket;
    const declared = Number(req.headers['content-length']);
    const readBefore = socket.bytesRead;
    const writtenBefore = socket.bytesWritten;
    res.once('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path;
      const pattern = route ? `${req.baseUrl}${route}` : 'unmatched';
      metrics.recordHttp(req.method, pattern, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9, {
        in: Number.isFinite(declared) && declared > 0 ? declared : Math.max(0, socket.bytesRead - readBefore),
        out: Math.max(0, socket.bytesWritten - writtenBefore),
      });
    });
    next();
  });
  app.use(
    pinoHttp({
      logger: root,
      genReqId: (_req, res) => String(res.getHeader('X-Request-Id')),
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
      autoLogging: { ignore: (req) => req.url === '/health' },
      serializers: { req: (req: { method: string; url: string }) => ({ method: req.method, url: req.url.split('?')[0] }) },
    }),
  );
  // Upload targets take the bytes as they come, whatever Content-Type the client declares.
  useStorageSafeBodyParsers(app, { rawPaths: ['/v1/files/upload-target/'] });
  // GraphQL multipart requests: one file per request, streamed through a temp file, never held in memory.
  app.use('/graphql', graphqlUploadExpress({ maxFileSize: config.uploads.maxBytes, maxFiles: 1 }));
  app.enableShutdownHooks();
  mountQueueBoard(app);
  serveConsole(app);
  serveOpenApi(app, buildOpenApiDocument(app));
  await app.init();
  const driver = app.get<QueueDriver>(QUEUE_DRIVER);
  // The API only enqueues, except in the embedded profile where jobs run in this process.
  if (driver.name === 'in-process') {
    await driver.startWorkers(app.get(JobRegistry));
    await scheduleLifecycleJobs(driver, config);
  }
  app.get(OutboxRelay).start();
  return app;
}
