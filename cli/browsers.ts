/**
 * One browser session per target, all with the same small surface: call a method of the check page's
 * `window.webqCheck` (page/check.js), hear its progress lines, close. The launch recipes are the tests' own
 * (tools/browsers.ts, tools/harness.ts), so `webq check` sees what the e2e tests see.
 */
import {
  findFirefoxPage,
  launchChromium,
  launchFirefox,
  openWithConsent,
  openWithConsentFirefox,
  saveModelHost,
} from '../tools/browsers';
import { launchSparticuz } from '../tools/harness';

export type Settled<T> = { ok: true; value: T } | { ok: false; error: { name: string; message: string } };
export type CheckMethod = 'capabilities' | 'load' | 'run' | 'unload';

export interface CheckSession {
  /** How the row names the browser: chrome, firefox, or chrome-harness (the engine in a plain page). */
  name: string;
  call<T>(method: CheckMethod, ...args: unknown[]): Promise<Settled<T>>;
  close(): Promise<void>;
}

type ConsoleListener = (text: string) => void;

export interface SessionOptions {
  /** The check page, opened with the permission prompt answered. */
  pageUrl: string;
  headed: boolean;
  /** Set on the extension's options page (Settings → Model host) before anything runs; absent: left as it is. */
  modelHost?: string;
  onConsole: ConsoleListener;
  log(line: string): void;
}

/**
 * A browser that crashes or closes mid-call (a renderer killed by a failed WebNN graph build, say) becomes a
 * failed result like any other, so the remaining combinations still get a row saying why.
 */
async function guarded<T>(call: () => Promise<Settled<T>>): Promise<Settled<T>> {
  try {
    return await call();
  } catch (err) {
    return {
      ok: false,
      error: {
        name: 'BrowserError',
        message: `the browser failed during the call: ${(err as Error).message.split('\n')[0]}`,
      },
    };
  }
}

/**
 * tsx (esbuild, keepNames) wraps the named functions inside tools/'s page functions in `__name(fn, name)`,
 * which pages do not define (page/check.js says more): the options page gets a stand-in before `saveModelHost`.
 */
const NAME_HELPER = 'globalThis.__name ??= (fn) => fn';

/** Debian's Chromium has no WebNN backend; with the feature on, it at least says so instead of hiding navigator.ml. */
const CHROMIUM_FEATURES = '--enable-features=Vulkan,WebMachineLearningNeuralNetwork';

export async function chromeSession({
  pageUrl,
  headed,
  modelHost,
  onConsole,
  log,
}: SessionOptions): Promise<CheckSession> {
  // The later --enable-features wins in Chromium, so it repeats Vulkan from the tests' GPU args.
  const browser = await launchChromium({ headless: !headed, extraArgs: [CHROMIUM_FEATURES] });
  try {
    if (modelHost) {
      const options = await browser.context.newPage();
      await options.goto(`chrome-extension://${browser.extensionId}/options/options.html`);
      await options.evaluate(NAME_HELPER);
      await saveModelHost(options, modelHost);
      await options.close();
      log(`chrome: model host ${modelHost} saved on the options page`);
    }
    const page = await openWithConsent(browser.context, pageUrl);
    page.on('console', (m) => onConsole(m.text()));
    return {
      name: 'chrome',
      call: (method, ...args) =>
        guarded(() => page.evaluate(([m, a]) => (window as any).webqCheck[m](...a), [method, args] as const)),
      close: () => browser.close(),
    };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

export async function firefoxSession({
  pageUrl,
  headed,
  modelHost,
  onConsole,
  log,
}: SessionOptions): Promise<CheckSession> {
  const browser = await launchFirefox({ headless: !headed });
  try {
    // WebDriver BiDi cannot navigate to the extension's random moz-extension origin: the permission prompt (an
    // extension page) opens the options page, which is then found by its URL.
    const page = await openWithConsentFirefox(
      browser.browser,
      pageUrl,
      'allow',
      modelHost ? ['/options/options.html'] : [],
    );
    if (modelHost) {
      const options = await findFirefoxPage(browser.browser, '/options/options.html');
      await options.evaluate(NAME_HELPER);
      await saveModelHost(options as unknown as Parameters<typeof saveModelHost>[0], modelHost);
      log(`firefox: model host ${modelHost} saved on the options page`);
    }
    page.on('console', (m) => onConsole(m.text()));
    return {
      name: 'firefox',
      call: (method, ...args) =>
        guarded(() => page.evaluate((m, a) => (window as any).webqCheck[m](...a), method, args)),
      close: () => browser.close(),
    };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

/**
 * The engine harness (dist/harness) in @sparticuz/chromium: the only Chromium here whose WebNN works. It is the
 * engine without the extension around it (no consent, no messaging between processes), so its rows say so.
 */
export async function harnessSession(origin: string, onConsole: ConsoleListener): Promise<CheckSession> {
  const { browser } = await launchSparticuz();
  try {
    const page = await browser.newPage();
    page.on('console', (m) => onConsole(m.text()));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => 'webq' in window, undefined, { timeout: 30_000 });
    await page.addScriptTag({ url: `${origin}/check.js` });
    return {
      name: 'chrome-harness',
      call: (method, ...args) =>
        guarded(() => page.evaluate(([m, a]) => (window as any).webqCheck[m](...a), [method, args] as const)),
      close: () => browser.close(),
    };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
