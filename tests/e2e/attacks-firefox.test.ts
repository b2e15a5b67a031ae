/** The attack suite (attack-suite.ts) in Firefox with the built extension. */
import { afterAll, beforeAll } from 'vitest';
import type { Page } from 'puppeteer-core';
import { launchFirefox, openWithConsentFirefox, type FirefoxWithExtension } from '../../tools/browsers';
import { BLANK_PAGE, startServer, type TestServer } from '../../tools/server';
import { attackSuite } from './attack-suite';
import type { PageLike } from './webq-suite';

let firefox: FirefoxWithExtension;
let server: TestServer;
let page: Page;

beforeAll(async () => {
  server = await startServer({ '/page.html': BLANK_PAGE() });
  firefox = await launchFirefox();
  page = await openWithConsentFirefox(firefox.browser, `${server.origin}/page.html`);
});

afterAll(async () => {
  await firefox?.close();
  await server?.close();
});

attackSuite(() => ({
  page: page as unknown as PageLike,
  server,
  otherOrigin: async () =>
    (await openWithConsentFirefox(
      firefox.browser,
      `${server.origin.replace('127.0.0.1', 'localhost')}/page.html`,
    )) as unknown as PageLike,
}));
