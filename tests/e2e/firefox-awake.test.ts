/**
 * Firefox unloads its background page, the engine host, after an idle time without extension events, even while it
 * is working on a request (shared/link.ts, KEEP_AWAKE). Here that time is cut to 7 s (the browser's own is 30 s) and a
 * request lasts about 12 s: a model download served slowly. The page's link keeps the background awake while it
 * waits, so the request is answered; without that the page gets "the webq extension restarted" at about 7 s.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Page } from 'puppeteer-core';
import { launchFirefox, openWithConsentFirefox, type FirefoxWithExtension } from '../../tools/browsers';
import { BLANK_PAGE, slowRoute, startServer, type TestServer } from '../../tools/server';
import { identityModel } from '../support/onnx-models';

const IDLE_MS = 7000;
const REQUEST_MS = 12_000;

let firefox: FirefoxWithExtension;
let server: TestServer;
let page: Page;

beforeAll(async () => {
  const onnx = identityModel('float32');
  const chunks = 24;
  server = await startServer({
    '/page.html': BLANK_PAGE(),
    '/slow-identity.onnx': slowRoute(onnx, Math.ceil(onnx.byteLength / chunks), REQUEST_MS / chunks),
  });
  firefox = await launchFirefox({ prefs: { 'extensions.background.idle.timeout': IDLE_MS } });
  page = await openWithConsentFirefox(firefox.browser, `${server.origin}/page.html`);
});

afterAll(async () => {
  await firefox?.close();
  await server?.close();
});

it(`keeps the background page awake through a request longer than its idle time (${IDLE_MS / 1000} s)`, async () => {
  const r = await page.evaluate(async (u) => {
    const t = performance.now();
    const x = { type: 'float32', data: new Float32Array([1, 2, 3]), dims: [3] };
    return (window as any).webq.run(u, { x }, { backend: 'wasm' }).then(
      (res: any) => ({ y: Array.from(res.output.y.data as Float32Array), ms: performance.now() - t }),
      (e: Error) => ({ error: `${e.name}: ${e.message}`, ms: performance.now() - t }),
    );
  }, `${server.origin}/slow-identity.onnx`);
  expect(r).toMatchObject({ y: [1, 2, 3] });
  expect(r.ms).toBeGreaterThan(IDLE_MS + 2000); // the request did outlast the idle time
}, 60_000);
