/**
 * The shared suites (webq-suite.ts, registry-suite.ts, generation-suite.ts) against @webq/client's in-page engine:
 * the fresh Vite app that client.test.ts builds from `npm pack` of packages/client, served and opened in Chromium
 * and in Firefox WITHOUT the extension, its client (made with the test server's model host mirror) set as
 * `window.webq`. The suites then check the same outputs they check for the extension; the few checks of the
 * extension's own machinery (bridge, options page, its processes' isolation) branch on `host: 'page'`.
 * There is no consent step for the page host. In the `slow` project (docs/testing.md); needs `npm run build`.
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_GPU_ARGS, CHROMIUM_PATH, FIREFOX_PATH } from '../../tools/browsers';
import { buildClientApp, CLIENT_APP_READY, type ClientApp } from '../../tools/client-app';
import { harnessRoutes } from '../../tools/harness';
import { BLANK_PAGE, startServer, type TestServer } from '../../tools/server';
import { generationSuite } from './generation-suite';
import { registrySuite, type RegistryContext } from './registry-suite';
import { addModelRoutes, webqSuite, type PageLike, type SuiteContext } from './webq-suite';

/** The suites' model host prefix (registry-suite.ts and generation-suite.ts mirror their repos under it). */
const PREFIX = '/hub';

let app: ClientApp;

/** The part of a Playwright or Puppeteer page this file needs. */
type SitePage = PageLike & { goto(url: string): Promise<unknown>; close(): Promise<unknown> };

beforeAll(async () => {
  app = await buildClientApp();
});

afterAll(() => app?.cleanup());

/** One server per browser: the suites count the requests each model file gets, from a fresh cache. */
async function startSiteServer(): Promise<TestServer> {
  const server = await startServer({ '/page.html': BLANK_PAGE() });
  for (const [path, file] of Object.entries(harnessRoutes(app.dist))) server.routes.set(path, file); // the site at /
  addModelRoutes(server);
  return server;
}

const siteUrl = (server: TestServer) =>
  `${server.origin}/index.html?hub=${encodeURIComponent(`${server.origin}${PREFIX}`)}`;

/** A page of the site, its client as `window.webq`; no extension defined one first. */
async function openSite(page: SitePage, server: TestServer): Promise<void> {
  await page.goto(siteUrl(server));
  for (let i = 0; i < 300 && (await page.evaluate(() => document.title, null)) !== CLIENT_APP_READY; i++)
    await new Promise((r) => setTimeout(r, 100));
  const before = await page.evaluate(() => {
    const w = window as any;
    const had = 'webq' in w;
    w.webq = w.client;
    return had;
  }, null);
  if (before) throw new Error('window.webq was defined before the site set it: is an extension loaded?');
  expect(await page.evaluate(() => (window as any).webq.host(), null)).toBe('page');
}

/** The suites' contexts for the page host: the model host is the client's option, fixed by the page's `?hub=`. */
function contexts(
  browser: 'chrome' | 'firefox',
  state: () => { page: PageLike; server: TestServer; newPage(): Promise<SitePage> },
) {
  const suite = (): SuiteContext => ({ page: state().page, server: state().server, browser, host: 'page' });
  const registry = (): RegistryContext => ({
    ...suite(),
    async setModelHost(url) {
      const made = `${state().server.origin}${PREFIX}`;
      if (url !== made) throw new Error(`the page's client was made with modelHost ${made}, not ${url}`);
    },
    async setLanguageModelGlobal() {
      throw new Error("the page host has no options page: window.LanguageModel is the site's polyfill");
    },
    async inNewPage(fn) {
      const other = await state().newPage();
      try {
        await openSite(other, state().server);
        return await other.evaluate(fn, null);
      } finally {
        await other.close();
      }
    },
  });
  return { suite, registry };
}

describe('Chromium without the extension: the suites against the in-page engine', () => {
  let browser: Browser;
  let server: TestServer;
  let page: Page;
  beforeAll(async () => {
    server = await startSiteServer();
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      // Without Chromium's own Prompt API, so the site's polyfill offers webq's LanguageModel (generation-suite.ts).
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--no-first-run',
        ...CHROMIUM_GPU_ARGS,
        '--disable-features=AIPromptAPI',
      ],
    });
    page = await browser.newPage();
    page.on('pageerror', (err) => console.error('page error:', err.message));
    await openSite(page, server);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const { suite, registry } = contexts('chrome', () => ({ page, server, newPage: () => browser.newPage() }));
  webqSuite(suite);
  registrySuite(registry);
  generationSuite(registry);
});

describe('Firefox without the extension: the suites against the in-page engine', () => {
  let browser: import('puppeteer-core').Browser;
  let server: TestServer;
  let page: import('puppeteer-core').Page;
  beforeAll(async () => {
    server = await startSiteServer();
    const puppeteer = (await import('puppeteer-core')).default;
    browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX_PATH,
      headless: true,
      extraPrefsFirefox: { 'dom.webgpu.enabled': true, 'gfx.webgpu.ignore-blocklist': true },
    });
    page = await browser.newPage();
    await openSite(page as unknown as SitePage, server);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const { suite, registry } = contexts('firefox', () => ({
    page: page as unknown as PageLike,
    server,
    newPage: async () => (await browser.newPage()) as unknown as SitePage,
  }));
  webqSuite(suite);
  registrySuite(registry);
  generationSuite(registry);
});
