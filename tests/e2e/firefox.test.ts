/**
 * Firefox ESR (WebGPU on lavapipe) with the built extension installed over WebDriver BiDi: the shared page-API
 * suite, with the background page as the engine host.
 */
import { afterAll, beforeAll } from 'vitest';
import type { Page } from 'puppeteer-core';
import {
  findFirefoxPage,
  launchFirefox,
  openWithConsentFirefox,
  saveSettings,
  type FirefoxWithExtension,
} from '../../tools/browsers';
import { registrySuite, type RegistryContext } from './registry-suite';
import { generationSuite } from './generation-suite';
import { BLANK_PAGE, startServer, type TestServer } from '../../tools/server';
import { addModelRoutes, webqSuite, type PageLike, type SuiteContext } from './webq-suite';
import { channelSuite } from './channel-suite';

let firefox: FirefoxWithExtension;
let server: TestServer;
let page: Page;

beforeAll(async () => {
  server = await startServer({ '/page.html': BLANK_PAGE() });
  addModelRoutes(server);
  firefox = await launchFirefox();
  page = await openWithConsentFirefox(firefox.browser, `${server.origin}/page.html`, 'allow', [
    '/options/options.html',
  ]);
});

afterAll(async () => {
  await firefox?.close();
  await server?.close();
});

webqSuite((): SuiteContext => ({ page: page as unknown as PageLike, server, browser: 'firefox', host: 'extension' }));
const registryContext = (): RegistryContext => ({
  page: page as unknown as PageLike,
  server,
  browser: 'firefox',
  host: 'extension',
  setModelHost: (modelHost) => withOptionsPage({ modelHost }),
  setLanguageModelGlobal: (on) => withOptionsPage({ languageModelGlobal: on }),
  async inNewPage(fn) {
    const other = await firefox.browser.newPage();
    try {
      await other.goto(`${server.origin}/page.html`);
      return await other.evaluate(fn);
    } finally {
      await other.close();
    }
  },
});
const withOptionsPage = async (change: Parameters<typeof saveSettings>[1]) =>
  saveSettings((await findFirefoxPage(firefox.browser, '/options/options.html')) as unknown as PageLike, change);
channelSuite(() => ({
  server,
  async open(url) {
    const p = await firefox.browser.newPage();
    await p.goto(url);
    return p as unknown as PageLike & { close(): Promise<void> };
  },
}));
registrySuite(registryContext);
generationSuite(registryContext);
