import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { classicPdf } from '@app/media/testing/media-fixtures';
import { PROFILE, startTestApp, type TestApp } from './support/test-app';

// The web console in a real browser (Debian's chromium, driven by playwright-core): sign in, upload two files and
// watch their progress, see the thumbnail, toggle visibility, and open a share link in a fresh browser context.
// A screenshot of each step is written under test-artifacts/console/.

// Page functions run in the browser; the test itself is compiled without the DOM library.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const document: any;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '..', 'test-artifacts', 'console');
// The page is the same in both profiles; the browser run belongs to `npm test`.
const run = PROFILE === 'embedded' ? describe : describe.skip;

run('web console (browser)', () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let step = 0;
  const shot = async (name: string) => {
    step++;
    await page.screenshot({ path: join(ARTIFACTS, `${String(step).padStart(2, '0')}-${name}.png`), fullPage: true });
  };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`No browser at ${CHROMIUM}: apt-get install chromium (.ci/run does), or set CHROMIUM_PATH`);
    if (!existsSync(join(__dirname, '..', 'dist', 'console', 'main.js'))) throw new Error('Build the console first: npm run build');
    await mkdir(ARTIFACTS, { recursive: true });
    app = await startTestApp();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('signs in with a token, uploads two files with progress, shows the thumbnail, toggles visibility and shares', async () => {
    await page.goto(app.url);
    await page.waitForSelector('#token-form');
    await shot('sign-in');
    // With a real AUTH_JWT_SECRET the development sign-in is off.
    expect(await page.isHidden('#dev-sign-in-row')).toBe(true);
    await page.fill('#token', 'not-a-token');
    await page.click('#token-form button[type=submit]');
    await page.waitForSelector('#sign-in-error:not(:empty)');
    await page.fill('#token', app.token({ sub: 'ada', org: 'console' }, 3600));
    await page.click('#token-form button[type=submit]');
    await page.waitForSelector('#app:not([hidden])');
    expect(await page.textContent('#who')).toBe('ada · console');
    await shot('signed-in');

    const photo = await sharp({ create: { width: 640, height: 400, channels: 3, background: '#2f6fed' } }).jpeg().toBuffer();
    // A real two-page PDF, padded to a few MB so the progress bar has something to show.
    const report = classicPdf(2, 3 * 1024 * 1024);
    await page.setInputFiles('#file-input', [
      { name: 'photo.jpg', mimeType: 'image/jpeg', buffer: photo },
      { name: 'report.pdf', mimeType: 'application/pdf', buffer: report },
    ]);
    // Each file gets its own progress bar, which reaches 100 %.
    await page.waitForFunction(() => document.querySelectorAll('#uploads li.done').length === 2, undefined, { timeout: 30_000 });
    const percents = await page.$$eval('#uploads li .percent', (els) => els.map((e) => e.textContent));
    expect(percents).toEqual(['100 %', '100 %']);
    expect(await page.$$eval('#uploads progress', (els) => els.map((e) => (e as unknown as { value: number }).value))).toEqual([100, 100]);
    await shot('uploaded');

    // The photo's thumbnail appears once processing is done (an image that really loaded, not a broken one).
    await page.waitForFunction(
      () => {
        const row = [...document.querySelectorAll('#files tbody tr')].find((r: { textContent: string | null }) => r.textContent?.includes('photo.jpg'));
        const img = row?.querySelector('img.thumb') as { complete: boolean; naturalWidth: number } | null;
        return !!img && img.complete && img.naturalWidth > 0;
      },
      undefined,
      { timeout: 30_000 },
    );
    await shot('thumbnail');

    // Filters: only images, then a name search.
    await page.selectOption('#filters select[name=type]', 'image');
    await page.waitForFunction(() => document.querySelectorAll('#files tbody tr').length === 1);
    await page.selectOption('#filters select[name=type]', '');
    await page.fill('#filters input[name=q]', 'report');
    await page.waitForFunction(() => [...document.querySelectorAll('#files tbody tr')].every((r: { textContent: string | null }) => r.textContent?.includes('report.pdf')));
    await page.fill('#filters input[name=q]', '');
    await page.waitForFunction(() => document.querySelectorAll('#files tbody tr').length === 2);

    // Detail pane with metadata and the image preview; then make it public.
    await page.click('#files tbody tr:has-text("photo.jpg")');
    await page.waitForSelector('#detail img.preview');
    const detail = await page.textContent('#detail');
    expect(detail).toContain('SHA-256');
    expect(detail).toContain('640 × 400');
    await page.click('#toggle-visibility');
    await page.waitForFunction(() => document.querySelector('#toggle-visibility')?.textContent === 'Make private');
    await page.waitForFunction(() => [...document.querySelectorAll('#files tbody tr')].some((r: { textContent: string | null }) => r.textContent?.includes('photo.jpg') && r.textContent.includes('public')));
    await shot('public');

    // A share link, opened in a fresh context (no cookie, no token), serves the file.
    await page.click('#share');
    await page.waitForSelector('#share-link');
    const link = await page.inputValue('#share-link');
    expect(link).toMatch(/\/v1\/files\/public\/links\//);
    await shot('share-link');
    const stranger = await browser.newContext();
    const response = await stranger.request.get(link);
    expect(response.status()).toBe(200);
    expect(Buffer.from(await response.body()).equals(photo)).toBe(true);
    const strangerPage = await stranger.newPage();
    await strangerPage.goto(link);
    await strangerPage.screenshot({ path: join(ARTIFACTS, `${String(++step).padStart(2, '0')}-shared-in-fresh-context.png`) });
    await stranger.close();

    // The PDF's detail embeds it.
    await page.click('#files tbody tr:has-text("report.pdf")');
    await page.waitForSelector('#detail iframe.preview');
    await shot('pdf-detail');
  }, 120_000);
});
