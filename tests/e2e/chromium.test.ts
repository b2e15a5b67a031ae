/**
 * Chromium (Debian's, WebGPU on SwiftShader) with the built extension: the shared page-API suite, plus consent
 * and the Chrome-only parts (service worker + offscreen document).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import {
  launchChromium,
  openWithConsent,
  saveSettings,
  userGesture,
  type ChromiumWithExtension,
} from '../../tools/browsers';
import { registrySuite, type RegistryContext } from './registry-suite';
import { generationSuite } from './generation-suite';
import { BLANK_PAGE, startServer, type TestServer } from '../../tools/server';
import { addModelRoutes, webqSuite, type PageLike, type SuiteContext } from './webq-suite';
import { channelSuite } from './channel-suite';
import { MODELS } from '../../tools/fixtures';

let chromium: ChromiumWithExtension;
let server: TestServer;
let page: Page;

beforeAll(async () => {
  server = await startServer({ '/page.html': BLANK_PAGE(), '/other.html': BLANK_PAGE('another page') });
  addModelRoutes(server);
  // Without the browser's own Prompt API (Chromium has one, 'unavailable' without its on-device model): the case
  // the options page's window.LanguageModel switch is for (generation-suite.ts).
  chromium = await launchChromium({ extraArgs: ['--disable-features=AIPromptAPI'] });
  page = await openWithConsent(chromium.context, `${server.origin}/page.html`);
});

afterAll(async () => {
  await chromium?.close();
  await server?.close();
});

webqSuite((): SuiteContext => ({ page, server, browser: 'chrome', host: 'extension' }));
const registryContext = (): RegistryContext => ({
  page,
  server,
  browser: 'chrome',
  host: 'extension',
  setModelHost: (modelHost) => withOptionsPage({ modelHost }),
  setLanguageModelGlobal: (on) => withOptionsPage({ languageModelGlobal: on }),
  async inNewPage(fn) {
    const other = await chromium.context.newPage();
    try {
      await other.goto(`${server.origin}/page.html`);
      return await other.evaluate(fn);
    } finally {
      await other.close();
    }
  },
});
async function withOptionsPage(change: Parameters<typeof saveSettings>[1]): Promise<void> {
  const options = await chromium.context.newPage();
  await options.goto(`chrome-extension://${chromium.extensionId}/options/options.html`);
  await saveSettings(options, change);
  await options.close();
}
registrySuite(registryContext);
generationSuite(registryContext);

describe('consent (Chromium)', () => {
  const localhost = () => server.origin.replace('127.0.0.1', 'localhost'); // another origin, same server

  /** Revokes localhost's decision on the options page, once its row shows `status`; the options page stays open. */
  const revokeOnOptionsPage = async (status: 'Allowed' | 'Denied') => {
    const options = await chromium.context.newPage();
    await options.goto(`chrome-extension://${chromium.extensionId}/options/options.html`);
    const row = options.locator(`tr[data-origin="${localhost()}"]`);
    await expect.poll(() => row.textContent()).toContain(status);
    await row.locator('[data-webq=revoke]').click();
    await expect.poll(() => row.count()).toBe(0);
    return options;
  };

  it('webq.version needs no consent and opens no prompt', async () => {
    const p = await chromium.context.newPage();
    await p.goto(`${localhost()}/page.html`);
    const pagesBefore = chromium.context.pages().length;
    expect(await p.evaluate(() => (window as any).webq.version)).toMatch(/^\d+\.\d+\.\d+$/);
    await p.waitForTimeout(500);
    expect(chromium.context.pages().length).toBe(pagesBefore);
    await p.close();
  });

  it('deny is remembered per origin; revoking it in the options page asks again', async () => {
    const p = await chromium.context.newPage();
    await p.goto(`${localhost()}/other.html`);
    const prompt = chromium.context.waitForEvent('page', { predicate: (x) => x.url().includes('/prompt.html') });
    await userGesture(p); // a prompt opens only after a user gesture, from the tab in front (it is: just opened)
    const call = p.evaluate(() =>
      (window as any).webq.capabilities().then(
        () => 'ok',
        (e: Error) => e.name,
      ),
    );
    const promptPage = await prompt;
    // The prompt's module script fills the origin in after the page appears: wait for it.
    await expect.poll(() => promptPage.textContent('[data-webq=origin]')).toBe(localhost());
    await promptPage.click('[data-webq=deny]');
    expect(await call).toBe('NotAllowedError');
    // Remembered: no second prompt, same answer.
    expect(
      await p.evaluate(() =>
        (window as any).webq.load('https://example.com/m.onnx').then(
          () => 'ok',
          (e: Error) => e.name,
        ),
      ),
    ).toBe('NotAllowedError');
    // The allowed origin is unaffected.
    expect(
      await page.evaluate(() =>
        (window as any).webq.capabilities().then(
          () => 'ok',
          (e: Error) => e.name,
        ),
      ),
    ).toBe('ok');

    const options = await revokeOnOptionsPage('Denied');

    const again = chromium.context.waitForEvent('page', { predicate: (x) => x.url().includes('/prompt.html') });
    await p.bringToFront(); // the options tab is in front now; a prompt opens only for the tab in front
    await userGesture(p);
    const retry = p.evaluate(() =>
      (window as any).webq.capabilities().then(
        () => 'ok',
        (e: Error) => e.name,
      ),
    );
    await (await again).click('[data-webq=allow]');
    expect(await retry).toBe('ok');
    await Promise.all([p.close(), options.close()]);
  });

  it('revoking an allowed origin stops its calls at once, though they skip the service worker', async () => {
    // After its first call passed the router, a page's calls go straight to the offscreen document
    // (shared/direct.ts); the revocation must reach them there. The test before allowed this origin.
    const p = await chromium.context.newPage();
    await p.goto(`${localhost()}/other.html?direct`);
    const capabilities = () =>
      p.evaluate(() =>
        (window as any).webq.capabilities().then(
          () => 'ok',
          (e: Error) => `${e.name}: ${e.message}`,
        ),
      );
    for (let i = 0; i < 3; i++) expect(await capabilities()).toBe('ok');
    const options = await revokeOnOptionsPage('Allowed');
    // No decision and no user gesture: refused, and no prompt opens.
    const pagesBefore = chromium.context.pages().length;
    expect(await capabilities()).toMatch(/^NotAllowedError: /);
    expect(chromium.context.pages().length).toBe(pagesBefore);
    await options.close();
    await p.close();
  });

  it('closing the prompt without answering rejects that call only', async () => {
    const other = server.origin.replace('127.0.0.1', '[::1]');
    const p = await chromium.context.newPage();
    const reachable = await p.goto(`${other}/page.html`).then(
      () => true,
      () => false,
    );
    if (!reachable) {
      await p.close();
      return expect(reachable).toBe(false);
    } // no IPv6 loopback on this host
    const prompt = chromium.context.waitForEvent('page', { predicate: (x) => x.url().includes('/prompt.html') });
    await userGesture(p);
    const call = p.evaluate(() =>
      (window as any).webq.capabilities().then(
        () => 'ok',
        (e: Error) => e.name,
      ),
    );
    await (await prompt).close();
    expect(await call).toBe('NotAllowedError');
    await p.close();
  });
});

describe('engine host (Chromium)', () => {
  it('runs in one offscreen document, created on demand', async () => {
    const worker = chromium.context.serviceWorkers()[0]!;
    const contexts = await worker.evaluate(() =>
      chrome.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT' as chrome.runtime.ContextType] }),
    );
    expect(contexts).toHaveLength(1);
    expect(contexts[0]!.documentUrl).toMatch(/\/extension\/host\/offscreen\.html$/);
  });

  it('recovers when the offscreen document is closed: the next request gets a new one', async () => {
    const worker = chromium.context.serviceWorkers()[0]!;
    await worker.evaluate(() => chrome.offscreen.closeDocument());
    const r = await page.evaluate(() =>
      (window as any).webq.capabilities().then(
        (c: any) => c.browser.name,
        (e: Error) => e.name,
      ),
    );
    expect(r).toBe('chrome');
  });
});

channelSuite(() => ({
  server,
  async open(url) {
    const p = await chromium.context.newPage();
    await p.goto(url);
    return p as unknown as PageLike & { close(): Promise<void> };
  },
}));

describe('model cache integrity (Chromium: the service worker shares the cache origin)', () => {
  it('detects a corrupted chunk, says so, and downloads the model again', async () => {
    const path = '/models/corruptible.onnx';
    server.routes.set(path, MODELS.sileroVad);
    const load = () =>
      page.evaluate(async (u) => {
        const webq = (window as any).webq;
        const info = await webq.load(u, { backend: 'wasm' });
        await webq.unload(u);
        return info.fallbacks as string[];
      }, `${server.origin}${path}`);
    await load();
    expect(server.hits.get(path)).toBe(1);
    const worker = chromium.context.serviceWorkers()[0]!;
    const flipped = await worker.evaluate(async (source) => {
      const db: IDBDatabase = await new Promise((resolve, reject) => {
        const r = indexedDB.open('webq-models');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const key = `src|${new URL(source).origin}|${source}`; // the page's partition (its own origin here)
      const tx = db.transaction('chunks', 'readwrite');
      const store = tx.objectStore('chunks');
      const chunk: ArrayBuffer = await new Promise((resolve) => {
        const g = store.get([key, 0]);
        g.onsuccess = () => resolve(g.result);
      });
      const bytes = new Uint8Array(chunk);
      bytes[1000] = bytes[1000]! ^ 0xff;
      store.put(bytes.buffer, [key, 0]);
      await new Promise((resolve) => {
        tx.oncomplete = resolve;
      });
      return chunk.byteLength;
    }, `${server.origin}${path}`);
    expect(flipped).toBeGreaterThan(1000);
    const fallbacks = await load();
    expect(fallbacks.join(' ')).toMatch(/cached copy .* was corrupt; downloaded it again/);
    expect(server.hits.get(path)).toBe(2);
    expect(await load()).toEqual([]); // cached again, intact
    expect(server.hits.get(path)).toBe(2);
  });
});

describe('shaderPrecompilation (fresh browsers, so no pipeline is cached yet)', () => {
  const firstRunMs = async (options: Record<string, unknown>) => {
    const fresh = await launchChromium();
    try {
      const p = await openWithConsent(fresh.context, `${server.origin}/page.html`);
      return await p.evaluate(
        async ({ u, options }) => {
          const webq = (window as any).webq;
          const info = await webq.load(u, options);
          const res = await webq.run(
            u,
            { x: { type: 'float32', data: new Float32Array(8 * 32 * 32).fill(0.5), dims: [1, 8, 32, 32] } },
            options,
          );
          return { ms: res.performanceMetrics.inferenceTimeMs as number, fallbacks: info.fallbacks as string[] };
        },
        { u: `${server.origin}/models/static_conv.onnx`, options },
      );
    } finally {
      await fresh.close();
    }
  };

  it('compiles at load time (static shapes), so the first run is at least twice as fast', async () => {
    const cold = await firstRunMs({ backend: 'webgpu' });
    const warm = await firstRunMs({ backend: 'webgpu', shaderPrecompilation: true });
    console.log(
      `[chrome] first WebGPU run of a small CNN: ${cold.ms.toFixed(0)} ms without, ${warm.ms.toFixed(0)} ms with shaderPrecompilation`,
    );
    expect(warm.fallbacks).toEqual([]);
    expect(warm.ms).toBeLessThan(cold.ms / 2);
  });

  it('reports a warm-up that cannot run (free dimensions guessed as 1) in fallbacks', async () => {
    const info = await page.evaluate(
      (u) => (window as any).webq.load(u, { backend: 'webgpu', shaderPrecompilation: true }),
      `${server.origin}/models/silero_vad.onnx?warm`,
    );
    expect(info.fallbacks.join(' ')).toMatch(/shaderPrecompilation: warm-up run failed/);
  });
});
