import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PROFILE, startTestApp, type TestApp } from './support/test-app';

// The API documents: /docs serves the OpenAPI document generated from the controllers, and the committed
// openapi.json is the document the built server generates (run `npm run openapi:print` after changing a route).
(PROFILE === 'embedded' ? describe : describe.skip)('API documents', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app?.close());

  it('serves the OpenAPI 3.1 document and its UI, and openapi.json matches the code', async () => {
    const res = await fetch(`${app.url}/docs/openapi.json`);
    expect(res.status).toBe(200);
    const served = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { operationId: string }>> };
    expect(served.openapi).toBe('3.1.0');
    // Every surface is there, the literal-colon epilot routes included.
    for (const path of ['/files', '/files/{id}', '/api/files/upload', '/v1/upload', '/api/file-types', '/v2/files', '/v1/files:downloadS3', '/v1/{slug}/collections']) {
      expect(Object.keys(served.paths)).toContain(path);
    }
    // The committed document is what the built server generates (the same code `npm start` runs).
    const check = spawnSync(process.execPath, [join(__dirname, '..', 'dist', 'scripts', 'print-openapi.js'), '--check'], { encoding: 'utf8' });
    expect({ status: check.status, stderr: check.stderr.trim() }).toEqual({ status: 0, stderr: '' });
    expect(check.stdout).toMatch(/openapi\.json matches the code/);
    const ui = await fetch(`${app.url}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger-ui');
  });
});
