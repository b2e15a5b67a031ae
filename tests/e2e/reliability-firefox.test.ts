/**
 * Issue 8's Firefox fault: the background page — Firefox's engine host and router in one — reloaded in the middle
 * of a request. The page's request fails with OperationError (the bridge's port to the background disconnects),
 * the next request is served by the new background page, and the interrupted download left no half-written cache
 * entry. Run: npx vitest run --project e2e tests/e2e/reliability-firefox.test.ts (after `npm run build`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Page } from 'puppeteer-core';
import {
  findFirefoxPage,
  launchFirefox,
  openWithConsentFirefox,
  type FirefoxWithExtension,
} from '../../tools/browsers';
import { MODELS } from '../../tools/fixtures';
import { BLANK_PAGE, slowRoute, startServer, type TestServer } from '../../tools/server';

let firefox: FirefoxWithExtension;
let server: TestServer;
let page: Page;
/** An extension page (the options page): it shares the background's origin, IndexedDB and extension APIs. */
let extensionPage: Page;

beforeAll(async () => {
  server = await startServer({ '/page.html': BLANK_PAGE() });
  server.routes.set('/models/silero_vad.onnx', MODELS.sileroVad);
  firefox = await launchFirefox();
  page = await openWithConsentFirefox(firefox.browser, `${server.origin}/page.html`, 'allow', [
    '/options/options.html',
  ]);
  extensionPage = await findFirefoxPage(firefox.browser, '/options/options.html');
});

afterAll(async () => {
  await firefox?.close();
  await server?.close();
});

/** Every cache entry's completeness and chunk count, read from IndexedDB in the extension's origin. */
function cacheEntries(): Promise<{ key: string; complete: boolean; chunks: number; storedChunks: number }[]> {
  return extensionPage.evaluate(async () => {
    const db: IDBDatabase = await new Promise((resolve, reject) => {
      const r = indexedDB.open('webq-models');
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const all = <T>(req: IDBRequest<T>) =>
      new Promise<T>((resolve, reject) => {
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    const tx = db.transaction(['entries', 'chunks'], 'readonly');
    const entries = (await all(tx.objectStore('entries').getAll())) as {
      key: string;
      complete: boolean;
      chunks: number;
    }[];
    const chunkKeys = (await all(tx.objectStore('chunks').getAllKeys())) as [string, number][];
    db.close();
    return entries.map((e) => ({
      key: e.key,
      complete: e.complete,
      chunks: e.chunks,
      storedChunks: chunkKeys.filter(([k]) => k === e.key).length,
    }));
  });
}

describe('the background page reloaded (Firefox)', () => {
  it('mid-download: OperationError, the next request works on the new background page, no half-written entry', async () => {
    const path = '/faults/slow.onnx';
    server.routes.set(path, slowRoute(readFileSync(MODELS.sileroVad), 64 * 1024, 100)); // ≈ 3.5 s
    const url = `${server.origin}${path}`;
    await page.evaluate((u) => {
      (window as any).__outcome = null;
      (window as any).webq
        .load(u, {
          backend: 'wasm',
          onProgress: (p: any) => {
            if (p.phase === 'download' && p.loaded > 0) (window as any).__downloading = true;
          },
        })
        .then(
          () => {
            (window as any).__outcome = 'resolved';
          },
          (e: Error) => {
            (window as any).__outcome = `${e.name}: ${e.message}`;
          },
        );
    }, url);
    await page.waitForFunction(() => (window as any).__downloading === true, { timeout: 30_000 });
    const before = await extensionPage.evaluate(
      async () => (await (globalThis as any).browser.runtime.getBackgroundPage()).performance.timeOrigin,
    );
    await extensionPage.evaluate(async () => {
      (await (globalThis as any).browser.runtime.getBackgroundPage()).location.reload();
    });
    await page.waitForFunction(() => (window as any).__outcome !== null, { timeout: 30_000 });
    expect(await page.evaluate(() => (window as any).__outcome)).toMatch(
      /^OperationError: .*restarted while this request was running/,
    );

    // A new background page (a later time origin), and the page's next requests are served by it.
    await expect
      .poll(
        async () =>
          extensionPage
            .evaluate(
              async () => (await (globalThis as any).browser.runtime.getBackgroundPage())?.performance.timeOrigin ?? 0,
            )
            .catch(() => 0),
        { timeout: 30_000 },
      )
      .toBeGreaterThan(before);
    // A call that reaches the new page before its router listens is told the extension restarted (the port closes
    // at once); calls after that are served. Allow that one moment, then every request must work.
    await expect
      .poll(
        () =>
          page.evaluate(() =>
            (window as any).webq.capabilities().then(
              () => 'ok',
              (e: Error) => e.name,
            ),
          ),
        { timeout: 15_000 },
      )
      .toBe('ok');
    server.routes.set(path, MODELS.sileroVad);
    const loaded = await page.evaluate(
      (u) =>
        (window as any).webq.load(u, { backend: 'wasm' }).then(
          (i: any) => i.backend,
          (e: Error) => `${e.name}: ${e.message}`,
        ),
      url,
    );
    expect(loaded).toBe('wasm');
    const caps = await page.evaluate(() =>
      (window as any).webq.capabilities().then(
        (c: any) => c.browser.name,
        (e: Error) => e.name,
      ),
    );
    expect(caps).toBe('firefox');

    const entries = await cacheEntries();
    for (const e of entries) {
      expect(e.complete, e.key).toBe(true);
      expect(e.storedChunks, e.key).toBe(e.chunks);
    }
    expect(
      entries.filter((e) => e.key === `src|${new URL(url).origin}|${url}` /* the page's partition */),
    ).toHaveLength(1);
  });
});
