/**
 * One browser session per target, all with the same small surface: call a method of the check page's
 * `window.webqCheck` (page/check.js), hear its progress lines, close. The launch recipes are the tests' own
 * (tests/support/browsers.ts, tests/support/harness.ts), so `webq check` sees what the e2e tests see.
 */
import { launchChromium, launchFirefox, openWithConsent, openWithConsentFirefox } from '../tests/support/browsers';
import { launchSparticuz } from '../tests/support/harness';

export type Settled<T> = { ok: true; value: T } | { ok: false; error: { name: string; message: string } };
export type CheckMethod = 'capabilities' | 'load' | 'run' | 'unload';

export interface CheckSession {
  /** How the row names the browser: chrome, firefox, or chrome-harness (the engine in a plain page). */
  name: string;
  call<T>(method: CheckMethod, ...args: unknown[]): Promise<Settled<T>>;
  close(): Promise<void>;
}

type ConsoleListener = (text: string) => void;

/**
 * A browser that crashes or closes mid-call (a renderer killed by a failed WebNN graph build, say) becomes a
 * failed result like any other, so the remaining combinations still get a row saying why.
 */
async function guarded<T>(call: () => Promise<Settled<T>>): Promise<Settled<T>> {
  try {
    return await call();
  } catch (err) {
    return { ok: false, error: { name: 'BrowserError', message: `the browser failed during the call: ${(err as Error).message.split('\n')[0]}` } };
  }
}

/** Debian's Chromium has no WebNN backend; with the feature on, it at least says so instead of hiding navigator.ml. */
const CHROMIUM_FEATURES = '--enable-features=Vulkan,WebMachineLearningNeuralNetwork';

export async function chromeSession(pageUrl: string, headed: boolean, onConsole: ConsoleListener): Promise<CheckSession> {
  // The later --enable-features wins in Chromium, so it repeats Vulkan from the tests' GPU args.
  const browser = await launchChromium({ headless: !headed, extraArgs: [CHROMIUM_FEATURES] });
  try {
    const page = await openWithConsent(browser.context, pageUrl);
    page.on('console', (m) => onConsole(m.text()));
    return {
      name: 'chrome',
      call: (method, ...args) => guarded(() => page.evaluate(([m, a]) => (window as any).webqCheck[m](...a), [method, args] as const)),
      close: () => browser.close(),
    };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

export async function firefoxSession(pageUrl: string, headed: boolean, onConsole: ConsoleListener): Promise<CheckSession> {
  const browser = await launchFirefox({ headless: !headed });
  try {
    const page = await openWithConsentFirefox(browser.browser, pageUrl);
    page.on('console', (m) => onConsole(m.text()));
    return {
      name: 'firefox',
      call: (method, ...args) => guarded(() => page.evaluate((m, a) => (window as any).webqCheck[m](...a), method, args)),
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
      call: (method, ...args) => guarded(() => page.evaluate(([m, a]) => (window as any).webqCheck[m](...a), [method, args] as const)),
      close: () => browser.close(),
    };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
