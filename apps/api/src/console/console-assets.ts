import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';

function findRoot(from: string): string | undefined {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'apps', 'console', 'static', 'index.html'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * The web console: its page and stylesheet from apps/console/static, its scripts compiled by `npm run build` into
 * dist/console. Served at `/`; every API path is matched first, so the console never shadows one.
 */
export function serveConsole(app: NestExpressApplication): void {
  const root = findRoot(__dirname);
  if (!root) return;
  app.useStaticAssets(join(root, 'apps', 'console', 'static'), { index: 'index.html', maxAge: 0 });
  app.useStaticAssets(join(root, 'dist', 'console'), { prefix: '/console/js/', maxAge: 0 });
}
