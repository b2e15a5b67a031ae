/**
 * The browsers a benchmark run drives, each opened on a page that has `window.webq` and the bench driver:
 *  - chromium: Debian's Chromium with dist/chrome loaded (WebGPU on SwiftShader, or the real GPU with --gpu);
 *  - firefox: Firefox ESR with dist/firefox (WebGPU on lavapipe), over WebDriver BiDi;
 *  - chromium-webnn: the engine harness page (dist/harness) in @sparticuz/chromium, whose WebNN works but which
 *    cannot load extensions, with the driver module added to it.
 * The launch recipes are the e2e tests' (tests/support); only the GPU flags differ for --gpu.
 */
import { chromium, type BrowserContext } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM_GPU_ARGS, CHROMIUM_PATH, DIST_CHROME, launchFirefox, openWithConsent, openWithConsentFirefox, requireBuild } from '../../tests/support/browsers.ts';
import { launchSparticuz } from '../../tests/support/harness.ts';
import type { BenchDriver } from '../page/driver.ts';
import type { BrowserName } from './schema.ts';

/**
 * Chromium on a real GPU (an NVIDIA machine): Vulkan, no SwiftShader. `--ignore-gpu-blocklist` because headless
 * Linux Chromium blocklists many drivers for WebGPU.
 */
export const REAL_GPU_ARGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=vulkan', '--ignore-gpu-blocklist'];

type Method = Exclude<keyof BenchDriver, 'ready'>;
type Fn<M extends Method> = BenchDriver[M] extends (...a: infer A) => infer R ? (...a: A) => Promise<Awaited<R>> : never;

export interface BenchPage {
  name: BrowserName;
  version: string;
  how: string;
  call<M extends Method>(method: M, ...args: Parameters<Fn<M>>): ReturnType<Fn<M>>;
  close(): Promise<void>;
}

interface Evaluator { evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R> }

function caller(page: Evaluator) {
  // An anonymous arrow: tsx's name-keeping helpers never appear in what Playwright/Puppeteer send to the page.
  return ((method: string, ...args: unknown[]) => page.evaluate(
    ([m, a]) => (window as unknown as { benchDriver: Record<string, (...x: unknown[]) => unknown> }).benchDriver[m]!(...a),
    [method, args] as [string, unknown[]],
  )) as BenchPage['call'];
}

export async function openChromium(pageUrl: string, realGpu: boolean): Promise<BenchPage> {
  requireBuild(DIST_CHROME);
  const profile = mkdtempSync(join(tmpdir(), 'webq-bench-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH, headless: true,
    args: [
      '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
      `--disable-extensions-except=${DIST_CHROME}`, `--load-extension=${DIST_CHROME}`,
      ...(realGpu ? REAL_GPU_ARGS : CHROMIUM_GPU_ARGS),
    ],
  });
  const close = async () => { await context.close(); rmSync(profile, { recursive: true, force: true }); };
  try {
    if (!context.serviceWorkers()[0]) await context.waitForEvent('serviceworker', { timeout: 30_000 });
    const page = await openWithConsent(context, pageUrl);
    await page.waitForFunction(() => (window as unknown as { benchDriver?: { ready: boolean } }).benchDriver?.ready === true, null, { timeout: 30_000 });
    const version = context.browser()?.version() ?? (await page.evaluate(() => navigator.userAgent, null));
    return { name: 'chromium', version, how: `${CHROMIUM_PATH} + dist/chrome, ${realGpu ? 'real GPU (Vulkan)' : 'WebGPU on SwiftShader'}`, call: caller(page), close };
  } catch (err) {
    await close();
    throw err;
  }
}

export async function openFirefox(pageUrl: string): Promise<BenchPage> {
  const ff = await launchFirefox();
  try {
    const page = await openWithConsentFirefox(ff.browser, pageUrl);
    await page.waitForFunction(() => (window as unknown as { benchDriver?: { ready: boolean } }).benchDriver?.ready === true, { timeout: 30_000 });
    return { name: 'firefox', version: await ff.browser.version(), how: 'Firefox ESR + dist/firefox over WebDriver BiDi, WebGPU on lavapipe', call: caller(page as unknown as Evaluator), close: ff.close };
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
    await page.waitForFunction(() => (window as unknown as { benchDriver?: { ready: boolean } }).benchDriver?.ready === true, null, { timeout: 30_000 });
    return { name: 'chromium-webnn', version: browser.version(), how: '@sparticuz/chromium, engine harness page (no extension), WebNN (TFLite/XNNPACK)', call: caller(page), close: () => browser.close() };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
