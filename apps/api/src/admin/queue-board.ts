import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { cookieValue, TokenService } from '@app/auth';
import { AppError } from '@app/errors';
import { BullMqQueueDriver, QUEUE_DRIVER, type QueueDriver } from '@app/queue';

export const QUEUE_BOARD_PATH = '/admin/queues';
const COOKIE = 'filehub_queue_board';

function refuse(res: Response, status: number, message: string): void {
  res.status(status).json({ statusCode: status, error: status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Not Found', message });
}

/**
 * Bull Board (the BullMQ dashboard: queue depth, jobs by state, retry or remove failed jobs) at /admin/queues, for
 * admin tokens only. A browser cannot send a bearer header when it follows a link, so `?token=<admin JWT>` is
 * accepted once: it is checked, moved into an HttpOnly, SameSite=Strict cookie scoped to this path (lasting no
 * longer than the token), and the browser is sent back without it. API calls may send `Authorization` instead.
 * In the embedded profile there is no BullMQ queue, and the path says so.
 */
export function mountQueueBoard(app: NestExpressApplication): void {
  const driver = app.get<QueueDriver>(QUEUE_DRIVER);
  const tokens = app.get(TokenService);
  if (!(driver instanceof BullMqQueueDriver)) {
    app.use(QUEUE_BOARD_PATH, (_req: Request, res: Response) =>
      refuse(res, 404, 'The queue dashboard needs the full stack (REDIS_URL, BullMQ); in the embedded profile jobs run in-process'),
    );
    return;
  }
  const serverAdapter = new ExpressAdapter().setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({ queues: [new BullMQAdapter(driver.bullQueue)], serverAdapter, options: { uiConfig: { boardTitle: 'filehub jobs' } } });
  const guard = (req: Request, res: Response, next: NextFunction): void => {
    const header = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const fromQuery = typeof req.query.token === 'string' ? req.query.token : undefined;
    const token = header ?? fromQuery ?? cookieValue(req, COOKIE);
    if (!token) {
      refuse(res, 401, `The queue dashboard needs an admin token: open ${QUEUE_BOARD_PATH}?token=<admin JWT> once, or send Authorization: Bearer <admin JWT>`);
      return;
    }
    tokens.verify(token).then(
      (principal) => {
        if (principal.role !== 'admin') return refuse(res, 403, 'The queue dashboard is for admin tokens only');
        if (fromQuery && !header) {
          const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8') || '{}') as { exp?: number };
          const maxAge = claims.exp ? Math.max(0, claims.exp - Math.floor(Date.now() / 1000)) : 3600;
          res.setHeader('Set-Cookie', `${COOKIE}=${encodeURIComponent(token)}; Path=${QUEUE_BOARD_PATH}; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${req.secure ? '; Secure' : ''}`);
          res.redirect(303, QUEUE_BOARD_PATH);
          return;
        }
        next();
      },
      (error: unknown) => refuse(res, 401, error instanceof AppError ? error.message : 'Invalid token'),
    );
  };
  app.use(QUEUE_BOARD_PATH, guard, serverAdapter.getRouter());
}
