/**
 * Real browsers with the built extension loaded (recipes in shared/TESTING.md):
 * Chromium via playwright-core (WebGPU on SwiftShader), Firefox ESR via puppeteer-core over WebDriver BiDi
 * (WebGPU on lavapipe). Both use the system browsers; nothing is downloaded.
 */
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const DIST_CHROME = resolve('dist/chrome');
export const DIST_FIREFOX = resolve('dist/firefox');
export const CHROMIUM_PATH = process.env.WEBQ_CHROMIUM ?? '/usr/bin/chromium';
export const FIREFOX_PATH = process.env.WEBQ_FIREFOX ?? '/usr/bin/firefox-esr';

export function requireBuild(dir: string): void {
  if (!existsSync(join(dir, 'manifest.json'))) throw new Error(`${dir} is missing: run \`npm run build\` first`);
}

export const CHROMIUM_GPU_ARGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
];

export interface ChromiumWithExtension {
  context: BrowserContext;
  extensionId: string;
  close(): Promise<void>;
}

export async function launchChromium(
  options: { headless?: boolean; extraArgs?: string[] } = {},
): Promise<ChromiumWithExtension> {
  requireBuild(DIST_CHROME);
  const profile = mkdtempSync(join(tmpdir(), 'webq-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: options.headless ?? true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--disable-extensions-except=${DIST_CHROME}`,
      `--load-extension=${DIST_CHROME}`,
      ...CHROMIUM_GPU_ARGS,
      ...(options.extraArgs ?? []),
    ],
  });
  const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker', { timeout: 30_000 }));
  const extensionId = new URL(worker.url()).host;
  return {
    context,
    extensionId,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Anything with a mouse: a playwright or a puppeteer page. */
interface Clickable {
  mouse: { click(x: number, y: number): Promise<unknown> };
}

/**
 * A genuine user gesture on `page` (a mouse click in its top-left corner), as a person's click before a call that
 * may open webq's permission prompt: webq opens one only for a call made with transient user activation (SPEC §3).
 * The activation lasts a few seconds, so call webq right after.
 */
export async function userGesture(page: Clickable): Promise<void> {
  await page.mouse.click(1, 1);
}

/**
 * Opens `url` and answers webq's permission prompt for it when the prompt appears. The first call is made the way a
 * prompt may be opened (SPEC §3): from the tab in front, right after a click; playwright's click on the prompt waits
 * for its buttons to be enabled (~750 ms after it shows).
 */
export async function openWithConsent(
  context: BrowserContext,
  url: string,
  answer: 'allow' | 'deny' = 'allow',
): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => 'webq' in window);
  await page.bringToFront();
  const prompt = context.waitForEvent('page', { predicate: (p) => p.url().includes('/prompt.html'), timeout: 30_000 });
  await userGesture(page);
  const first = page.evaluate(() =>
    (window as any).webq.capabilities().then(
      () => 'ok',
      (e: Error) => e.name,
    ),
  );
  const promptPage = await prompt;
  await promptPage.click(`[data-webq=${answer}]`);
  const result = await first;
  if ((answer === 'allow') !== (result === 'ok')) throw new Error(`consent ${answer} gave ${result}`);
  return page;
}

export interface FirefoxWithExtension {
  browser: import('puppeteer-core').Browser;
  close(): Promise<void>;
}

/**
 * Firefox with dist/firefox installed. `prefs` are set on top of webq's (a bench's timer precision, a test's idle
 * time). `WEBQ_DUMPIO=1` in the environment prints the browser's output, the background page's console included.
 */
export async function launchFirefox(
  options: { headless?: boolean; prefs?: Record<string, unknown> } = {},
): Promise<FirefoxWithExtension> {
  requireBuild(DIST_FIREFOX);
  const puppeteer = (await import('puppeteer-core')).default;
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_PATH,
    headless: options.headless ?? true,
    dumpio: process.env.WEBQ_DUMPIO === '1',
    extraPrefsFirefox: {
      ...(process.env.WEBQ_DUMPIO === '1' && {
        'devtools.console.stdout.chrome': true,
        'devtools.console.stdout.content': true,
        'browser.dom.window.dump.enabled': true,
      }),
      'dom.webgpu.enabled': true,
      'gfx.webgpu.ignore-blocklist': true,
      'extensions.webextensions.ExtensionStorageIDB.enabled': true,
      ...options.prefs,
    },
  });
  await browser.installExtension(DIST_FIREFOX);
  return { browser, close: () => browser.close() };
}

/**
 * Firefox: opens `url` and answers the permission prompt (found among the browser's pages by URL), the first call
 * made after a click from the tab in front, as in `openWithConsent`. `extensionPages`
 * (e.g. '/options/options.html') are opened by the prompt first: WebDriver BiDi may not navigate to moz-extension
 * URLs, whose origin is random per profile, but the extension's own page may open its pages.
 */
export async function openWithConsentFirefox(
  browser: import('puppeteer-core').Browser,
  url: string,
  answer: 'allow' | 'deny' = 'allow',
  extensionPages: string[] = [],
): Promise<import('puppeteer-core').Page> {
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForFunction(() => 'webq' in window, { timeout: 30_000 });
  await page.bringToFront();
  await userGesture(page);
  const first = page.evaluate(() =>
    (window as any).webq.capabilities().then(
      () => 'ok',
      (e: Error) => e.name,
    ),
  );
  const prompt = await findFirefoxPage(browser, '/prompt.html');
  if (extensionPages.length > 0) {
    await prompt.evaluate(async (urls) => {
      for (const u of urls) await (globalThis as any).browser.tabs.create({ url: u });
    }, extensionPages);
  }
  await clickPromptFirefox(prompt, answer);
  const result = await first;
  if ((answer === 'allow') !== (result === 'ok')) throw new Error(`consent ${answer} gave ${result}`);
  return page;
}

/**
 * Answers an open prompt in Firefox: puppeteer's click does not wait for a button to be enabled, and the prompt's
 * buttons take clicks only ~750 ms after it shows (SPEC §3).
 */
export async function clickPromptFirefox(
  prompt: import('puppeteer-core').Page,
  answer: 'allow' | 'deny',
): Promise<void> {
  await prompt.waitForSelector(`[data-webq=${answer}]:not([disabled])`, { timeout: 30_000 });
  await prompt.click(`[data-webq=${answer}]`);
}

/**
 * Firefox over BiDi reports extension pages opened by the extension with a stale URL (about:blank), so pages
 * are found by asking each one where it is.
 */
export async function findFirefoxPage(
  browser: import('puppeteer-core').Browser,
  urlPart: string,
  timeoutMs = 30_000,
): Promise<import('puppeteer-core').Page> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const p of await browser.pages()) {
      const href = await Promise.race([
        p.evaluate(() => location.href).catch(() => ''),
        new Promise<string>((r) => setTimeout(() => r(''), 2000)),
      ]);
      if (href.includes(urlPart)) return p;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no Firefox page at ${urlPart} within ${timeoutMs} ms`);
}

/**
 * Changes fields of the options page's settings form and saves it, as a person would (works on a Playwright or
 * Puppeteer page of options.html); resolves once the page says it saved.
 */
export async function saveSettings(
  options: { evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R> },
  change: { modelHost?: string; languageModelGlobal?: boolean },
): Promise<void> {
  const status = await options.evaluate(async (c) => {
    const $ = (s: string) => document.querySelector(s) as HTMLInputElement | HTMLButtonElement | null;
    // The page fills its fields from storage after it appears: wait until it has, or saving would send blanks.
    const filled = () =>
      ($('[data-webq=model-host]') as HTMLInputElement | null)?.value &&
      ($('[data-webq=cache-budget]') as HTMLInputElement | null)?.value;
    for (let i = 0; i < 100 && !filled(); i++) await new Promise((r) => setTimeout(r, 100));
    if (c.modelHost !== undefined) {
      const field = $('[data-webq=model-host]') as HTMLInputElement;
      field.value = c.modelHost;
      field.dispatchEvent(new Event('input', { bubbles: true }));
    }
    if (c.languageModelGlobal !== undefined)
      ($('[data-webq=language-model-global]') as HTMLInputElement).checked = c.languageModelGlobal;
    ($('[data-webq=settings-save]') as HTMLButtonElement).click();
    for (let i = 0; i < 100; i++) {
      const text = $('[data-webq=settings-status]')?.textContent ?? '';
      if (text && text !== 'Saving…') return text;
      await new Promise((r) => setTimeout(r, 100));
    }
    return 'no answer';
  }, change);
  if (status !== 'Saved.') throw new Error(`settings ${JSON.stringify(change)} not saved: ${status}`);
}

/** Sets the options page's model host and saves it (saveSettings). */
export const saveModelHost = (options: Parameters<typeof saveSettings>[0], url: string): Promise<void> =>
  saveSettings(options, { modelHost: url });
