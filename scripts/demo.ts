/**
 * `npm run demo`: builds the Chrome extension if needed, serves the demo page and the PP-OCRv4 model on
 * http://127.0.0.1:8731, and starts Chromium with the extension loaded on that page.
 *   - With a display (or --headed): a normal window; answer the permission prompt, press "Read the text".
 *   - Without one (or --headless): the script answers the prompt, runs the page, prints what webq returned and
 *     writes test-output/demo.png.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { resolve } from 'node:path';
import { launchChromium, DIST_CHROME } from '../tools/browsers';
import { startServer } from '../tools/server';
import { MODELS } from '../tools/fixtures';

const args = new Set(process.argv.slice(2));
const headless = args.has('--headless') || (!args.has('--headed') && !process.env.DISPLAY);
const port = Number(process.env.WEBQ_DEMO_PORT ?? 8731);

if (!existsSync(resolve(DIST_CHROME, 'manifest.json')) || args.has('--build')) {
  console.log('building the extension (dist/chrome)…');
  execSync('npx vite build --mode chrome', { stdio: 'inherit' });
}

const server = await startServer(
  {
    '/': resolve('demo/index.html'),
    '/index.html': resolve('demo/index.html'),
    '/demo.js': resolve('demo/demo.js'),
    '/models/ppocr_rec.onnx': MODELS.ppocrRec,
    '/models/ppocr_keys_v1.txt': MODELS.ppocrKeys,
  },
  port,
);
const pageUrl = `${server.origin}/index.html`;
console.log(`demo page: ${pageUrl}`);

const browser = await launchChromium({ headless });
const page = await browser.context.newPage();
await page.goto(pageUrl);

if (!headless) {
  console.log(
    'Chromium is open with webq loaded. Press “Read the text”, allow the site in the prompt. Ctrl-C to quit.',
  );
  const quit = async () => {
    await browser.close();
    await server.close();
    process.exit(0);
  };
  process.on('SIGINT', quit);
  browser.context.on('close', quit);
} else {
  // As a person would: press the button (webq asks for permission only after a user gesture), then allow the site.
  const prompt = browser.context.waitForEvent('page', {
    predicate: (p) => p.url().includes('/prompt.html'),
    timeout: 30_000,
  });
  await page.waitForFunction(() => 'webq' in window);
  await page.click('#run');
  await (await prompt).click('[data-webq=allow]'); // playwright waits for the prompt's buttons to be enabled
  await page.waitForFunction(() => document.body.dataset.demoState, null, { timeout: 120_000 });
  const state = await page.evaluate(() => document.body.dataset.demoState);
  const text = await page.textContent('[data-demo=result]');
  const status = await page.textContent('[data-demo=status]');
  const metrics = await page.$$eval('[data-demo=metrics] tr', (rows) =>
    rows.map((r) => `  ${r.children[0]!.textContent}: ${r.children[1]!.textContent}`),
  );
  mkdirSync('test-output', { recursive: true });
  await page.screenshot({ path: 'test-output/demo.png', fullPage: true });
  console.log(`drawn:      ${await page.inputValue('#text')}`);
  console.log(`recognised: ${text}`);
  console.log(`status:     ${status}`);
  console.log(metrics.join('\n'));
  console.log('screenshot: test-output/demo.png');
  await browser.close();
  await server.close();
  process.exit(state === 'done' ? 0 : 1);
}
