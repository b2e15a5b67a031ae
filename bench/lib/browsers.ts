/**
 * The browsers a benchmark run drives, each opened on a page that has `window.webq` and the bench driver:
 *  - chromium: Debian's Chromium with dist/chrome loaded (WebGPU on SwiftShader, or the real GPU with --gpu);
 *  - firefox: Firefox ESR with dist/firefox (WebGPU on lavapipe), over WebDriver BiDi;
 *  - chromium-webnn: the engine harness page (dist/harness) in @sparticuz/chromium, whose WebNN works but which
 *    cannot load extensions, with the driver module added to it.
 * The launch recipes are the e2e tests' (tools/); only the GPU flags differ for --gpu. The model host (where
 * registry ids download from) is set as a person sets it, on the extension's options page; the harness page has none,
 * so there the driver writes the same setting.
 */
import { chromium, type BrowserContext } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CHROMIUM_GPU_ARGS,
  CHROMIUM_PATH,
  DIST_CHROME,
  findFirefoxPage,
  launchFirefox,
  openWithConsent,
  openWithConsentFirefox,
  requireBuild,
} from '../../tools/browsers';
import { launchSparticuz } from '../../tools/harness';
import type { BenchDriver } from '../page/driver';
import type { BrowserName } from './schema';

/**
 * Chromium on a real GPU (an NVIDIA machine): Vulkan, no SwiftShader. `--ignore-gpu-blocklist` because headless
 * Linux Chromium blocklists many drivers for WebGPU.
 */
export const REAL_GPU_ARGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-angle=vulkan',
  '--ignore-gpu-blocklist',
];

type Method = Exclude<keyof BenchDriver, 'ready'>;
type Fn<M extends Method> = BenchDriver[M] extends (...a: infer A) => infer R
  ? (...a: A) => Promise<Awaited<R>>
  : never;

export interface BenchPage {
  name: BrowserName;
  version: string;
  how: string;
  call<M extends Method>(method: M, ...args: Parameters<Fn<M>>): ReturnType<Fn<M>>;
  /** Sets the model host registry ids download from (the options page's field, saved). */
  setModelHost(url: string): Promise<void>;
  close(): Promise<void>;
}

/** A Playwright or Puppeteer page, as far as a bench evaluates in it. */
export interface Evaluator {
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
}

function caller(page: Evaluator) {
  // An anonymous arrow: tsx's name-keeping helpers never appear in what Playwright/Puppeteer send to the page.
  return ((method: string, ...args: unknown[]) =>
    page.evaluate(
      ([m, a]) =>
        (window as unknown as { benchDriver: Record<string, (...x: unknown[]) => unknown> }).benchDriver[m]!(...a),
      [method, args] as [string, unknown[]],
    )) as BenchPage['call'];
}

/**
 * Fills the options page's model host field and saves it, as a person would; resolves once the page says it saved.
 * The e2e tests' saveModelHost (tools/browsers.ts) does the same, but its page function names inner helpers,
 * which tsx (running bench/run.ts) wraps in a `__name` call the page does not have; this one names none.
 */
export async function saveModelHost(options: Evaluator, url: string): Promise<void> {
  const status = await options.evaluate(async (host) => {
    // The page fills its fields from storage after it appears: wait until it has, or saving would send blanks.
    for (let i = 0; i < 100; i++) {
      if (
        (document.querySelector('[data-webq=model-host]') as HTMLInputElement | null)?.value &&
        (document.querySelector('[data-webq=cache-budget]') as HTMLInputElement | null)?.value
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const field = document.querySelector('[data-webq=model-host]') as HTMLInputElement;
    field.value = host;
    field.dispatchEvent(new Event('input', { bubbles: true }));
    (document.querySelector('[data-webq=settings-save]') as HTMLButtonElement).click();
    for (let i = 0; i < 100; i++) {
      const text = document.querySelector('[data-webq=settings-status]')?.textContent ?? '';
      if (text && text !== 'Saving…') return text;
      await new Promise((r) => setTimeout(r, 100));
    }
    return 'no answer';
  }, url);
  if (status !== 'Saved.') throw new Error(`model host ${url} not saved: ${status}`);
}

export async function openChromium(pageUrl: string, realGpu: boolean): Promise<BenchPage> {
  requireBuild(DIST_CHROME);
  const profile = mkdtempSync(join(tmpdir(), 'webq-bench-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--disable-extensions-except=${DIST_CHROME}`,
      `--load-extension=${DIST_CHROME}`,
      ...(realGpu ? REAL_GPU_ARGS : CHROMIUM_GPU_ARGS),
    ],
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker', { timeout: 30_000 }));
    const extensionId = new URL(worker.url()).host;
    const page = await openWithConsent(context, pageUrl);
    await page.waitForFunction(
      () => (window as unknown as { benchDriver?: { ready: boolean } }).benchDriver?.ready === true,
      null,
      { timeout: 30_000 },
    );
    const version = context.browser()?.version() ?? (await page.evaluate(() => navigator.userAgent, null));
    const setModelHost = async (url: string) => {
      const options = await context.newPage();
      try {
        await options.goto(`chrome-extension://${extensionId}/options/options.html`);
        await saveModelHost(options, url);
      } finally {
        await options.close();
      }
    };
    return {
      name: 'chromium',
      version,
      how: `${CHROMIUM_PATH} + dist/chrome, ${realGpu ? 'real GPU (Vulkan)' : 'WebGPU on SwiftShader'}`,
      call: caller(page),
      setModelHost,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

export async function openFirefox(pageUrl: string): Promise<BenchPage> {
  // Firefox rounds performance.now() to whole milliseconds otherwise, in the page and in the engine host alike.
  const ff = await launchFirefox({ prefs: { 'privacy.reduceTimerPrecision': false } });
  try {
    // The options page is opened by the prompt (BiDi may not navigate to moz-extension URLs), kept for the model host.
    const page = await openWithConsentFirefox(ff.browser, pageUrl, 'allow', ['/options/options.html']);
    await page.waitForFunction(
      () => (window as unknown as { benchDriver?: { ready: boolean } }).benchDriver?.ready === true,
      { timeout: 30_000 },
    );
    const setModelHost = async (url: string) =>
      saveModelHost((await findFirefoxPage(ff.browser, '/options/options.html')) as unknown as Evaluator, url);
    return {
      name: 'firefox',
      version: await ff.browser.version(),
      how: 'Firefox ESR + dist/firefox over WebDriver BiDi, WebGPU on lavapipe, privacy.reduceTimerPrecision off',
      call: caller(page as unknown as Evaluator),
      setModelHost,
      close: ff.close,
    };
  } catch (err) {
    await ff.close();
    throw err;
  }
}

/** `harnessUrl`: the harness page; `driverUrl`: the built driver module, added to it as a module script. */
export async function openWebnnHarness(harnessUrl: string, driverUrl: string): Promise<BenchPage> {
  const { browser } = await launchSparticuz();
  try {
    // The package's args include --single-process: keep this one page (docs/webnn.md).
    const page = await browser.newPage();
    await page.goto(harnessUrl);
    await page.waitForFunction(() => 'webq' in window, null, { timeout: 30_000 });
    await page.addScriptTag({ url: driverUrl, type: 'module' });
    await page.waitForFunction(
      () => (window as unknown as { benchDriver?: { ready: boolean } }).benchDriver?.ready === true,
      null,
      { timeout: 30_000 },
    );
    const call = caller(page);
    return {
      name: 'chromium-webnn',
      version: browser.version(),
      how: '@sparticuz/chromium, engine harness page (no extension), WebNN (TFLite/XNNPACK)',
      call,
      setModelHost: (url) => call('setModelHost', url),
      close: () => browser.close(),
    };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
