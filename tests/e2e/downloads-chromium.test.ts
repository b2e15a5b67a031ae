/**
 * Downloads streamed into IndexedDB and pinned registry entries (SPEC §3, issue 13), in Chromium with the built
 * extension. The engine's IndexedDB is read from the service worker (same extension origin): a model larger than
 * one staging chunk (PP-OCRv4 rec, 10.8 MB, against 8 MiB chunks) has chunks on disk while it downloads and no
 * cache entry until it has parsed; an aborted download and a download cut off by the engine host closing leave no
 * staged chunk behind. A pinned test registry entry (added through the engine's extension-only test hook) loads
 * from a mirror at its commit and is refused when a file is not what its pin says.
 * Run: npx vitest run tests/e2e/downloads-chromium.test.ts (after `npm run build`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Page, Worker } from 'playwright-core';
import { launchChromium, openWithConsent, saveModelHost, type ChromiumWithExtension } from '../../tools/browsers';
import { MODELS } from '../../tools/fixtures';
import { vitHubFiles } from '../../tools/hub-models/vit';
import { llamaHubFiles } from '../../tools/hub-models/llama';
import { toExternalData } from '../../tools/external-data';
import { mirrorRepo } from '../../tools/hub-mirror';
import { BLANK_PAGE, slowRoute, startServer, type TestServer } from '../../tools/server';

let chromium: ChromiumWithExtension;
let server: TestServer;
let page: Page;

const REC = readFileSync(MODELS.ppocrRec);
/** 24 MiB that never needs to parse: aborted or cut off before it ends. */
const BIG = Uint8Array.from({ length: 24 * 2 ** 20 }, (_, i) => (i * 2654435761) >>> 24);
const CHUNK = 8 * 2 ** 20; // DOWNLOAD_LIMITS.chunkBytes

beforeAll(async () => {
  server = await startServer({ '/page.html': BLANK_PAGE() });
  chromium = await launchChromium();
  page = await openWithConsent(chromium.context, `${server.origin}/page.html`);
});

afterAll(async () => {
  await chromium?.close();
  await server?.close();
});

const sw = (): Worker => chromium.context.serviceWorkers()[0]!;

/** The staging store's chunks and the cache's entry keys, read from IndexedDB in the extension's origin. */
async function disk(): Promise<{ staged: number; stagedBytes: number; entries: string[] }> {
  return sw().evaluate(async () => {
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
    try {
      const tx = db.transaction(['staging', 'entries'], 'readonly');
      const chunks = (await all(tx.objectStore('staging').getAll())) as ArrayBuffer[];
      const entries = (await all(tx.objectStore('entries').getAllKeys())) as string[];
      return { staged: chunks.length, stagedBytes: chunks.reduce((n, c) => n + c.byteLength, 0), entries };
    } finally {
      db.close(); // an open connection would hold up the engine's own
    }
  });
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting; last ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Starts a load in the page, abortable by `window.__abort()`; its outcome is `window.__outcome`. */
const startLoad = (url: string) =>
  page.evaluate((url) => {
    const w = window as any;
    const controller = new AbortController();
    w.__abort = () => controller.abort();
    w.__outcome = null;
    w.webq.load(url, { backend: 'wasm', signal: controller.signal }).then(
      () => (w.__outcome = 'loaded'),
      (e: Error) => (w.__outcome = `${e.name}: ${e.message}`),
    );
  }, url);
const outcome = () =>
  page.waitForFunction(() => (window as any).__outcome).then((h) => h.jsonValue() as Promise<string>);
const partitioned = (path: string) => `src|${server.origin}|${server.origin}${path}`;

describe('external data read in pieces (Chromium)', () => {
  // The generated Llama in the hub's layout: a 16 MB model.onnx_data, three 8 MiB chunks.
  const { graph, data } = toExternalData(llamaHubFiles()['onnx/model.onnx'] as Uint8Array);
  const hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  const url = () => `${server.origin}/ext/model.onnx`;
  const dataKey = () => partitioned('/ext/model.onnx_data');
  /** The page loads the graph at 4 bits: quantized in the preparation worker from the data file's chunks. */
  const load = () =>
    page.evaluate(
      (url) =>
        (window as any).webq.load(url, { backend: 'wasm', bits: 4 }).then(
          (info: any) => ({ ok: true, bits: info.bits, fallbacks: info.fallbacks as string[] }),
          (e: Error) => ({ ok: false, bits: 0, fallbacks: [`${e.name}: ${e.message}`] }),
        ),
      url(),
    );
  /** Runs `change` on the engine's database from the service worker (the same extension origin). */
  const onDisk = <T>(change: string, arg: string) =>
    sw().evaluate(
      async ([change, arg]) => {
        const db: IDBDatabase = await new Promise((resolve) => {
          const r = indexedDB.open('webq-models');
          r.onsuccess = () => resolve(r.result);
        });
        const done = <R>(r: IDBRequest<R>) =>
          new Promise<R>((resolve, reject) => {
            r.onsuccess = () => resolve(r.result);
            r.onerror = () => reject(r.error);
          });
        try {
          const tx = db.transaction(['entries', 'chunks'], 'readwrite');
          const entries = tx.objectStore('entries');
          const chunks = tx.objectStore('chunks');
          if (change === 'entry') {
            const e = await done(entries.get(arg));
            return { chunks: e.chunks, chunkBytes: e.chunkBytes, hashes: e.chunkSha256.length, sha256: e.sha256 };
          }
          if (change === 'spoil') {
            const chunk = new Uint8Array(await done(chunks.get([arg, 1])));
            chunk[1000] = chunk[1000]! ^ 0xff;
            await done(chunks.put(chunk.buffer, [arg, 1]));
          }
          if (change === 'drop-variants')
            for (const key of (await done(entries.getAllKeys())) as string[])
              if (!key.startsWith('src|')) await done(entries.delete(key));
          return null;
        } finally {
          db.close();
        }
      },
      [change, arg] as const,
    ) as Promise<T>;

  beforeAll(() => {
    server.routes.set('/ext/model.onnx', graph);
    server.routes.set('/ext/model.onnx_data', data);
  });

  it('a cached data file is chunks with their own sha256; one that fails its check is downloaded again', async () => {
    expect(await load()).toMatchObject({ ok: true, bits: 4 });
    expect(await onDisk('entry', dataKey())).toEqual({
      chunks: Math.ceil(data.byteLength / CHUNK),
      chunkBytes: CHUNK,
      hashes: Math.ceil(data.byteLength / CHUNK),
      sha256: hex(data),
    });
    await page.evaluate((url) => (window as any).webq.unload(url), url());
    await onDisk('spoil', dataKey());
    await onDisk('drop-variants', '');
    const hits = server.hits.get('/ext/model.onnx_data') ?? 0;
    const again = await load();
    expect(again).toMatchObject({ ok: true, bits: 4 });
    expect(again.fallbacks).toContain(
      `cache: the cached copy of ${server.origin}/ext/model.onnx_data failed its check when read; downloaded it again`,
    );
    expect(server.hits.get('/ext/model.onnx_data')).toBe(hits + 1);
    expect((await onDisk<{ sha256: string }>('entry', dataKey())).sha256).toBe(hex(data));
    await page.evaluate((url) => (window as any).webq.unload(url), url());
  });
});

describe('downloads streamed into IndexedDB (Chromium)', () => {
  it('a model larger than a chunk is on disk in chunks while it downloads, and an entry only once it parsed', async () => {
    server.routes.set('/models/rec.onnx', slowRoute(REC, 256 * 1024, 40)); // ≈ 1.7 s
    await startLoad(`${server.origin}/models/rec.onnx`);
    // Mid-way: a full chunk is staged, and there is no entry for the model yet.
    const mid = await until(disk, (d) => d.staged >= 1);
    expect(mid.stagedBytes).toBeGreaterThanOrEqual(CHUNK);
    expect(mid.entries).not.toContain(partitioned('/models/rec.onnx'));
    expect(await outcome()).toBe('loaded');
    const after = await disk();
    expect(after.entries).toContain(partitioned('/models/rec.onnx'));
    expect(after.staged).toBe(0);
    // The committed entry reads back whole: a fresh engine host runs from the cache without a download.
    const entry = await sw().evaluate(async (key) => {
      const db: IDBDatabase = await new Promise((resolve) => {
        const r = indexedDB.open('webq-models');
        r.onsuccess = () => resolve(r.result);
      });
      const e = await new Promise<any>((resolve) => {
        const r = db.transaction('entries').objectStore('entries').get(key);
        r.onsuccess = () => resolve(r.result);
      });
      db.close();
      return { size: e.size, chunks: e.chunks, sha256: e.sha256 };
    }, partitioned('/models/rec.onnx'));
    expect(entry).toEqual({
      size: REC.byteLength,
      chunks: Math.ceil(REC.byteLength / CHUNK),
      sha256: createHash('sha256').update(REC).digest('hex'),
    });
  });

  it('an aborted download leaves no staged bytes and no entry', async () => {
    server.routes.set('/models/big-abort.onnx', slowRoute(BIG, 512 * 1024, 40));
    await startLoad(`${server.origin}/models/big-abort.onnx`);
    await until(disk, (d) => d.staged >= 1);
    await page.evaluate(() => (window as any).__abort());
    expect(await outcome()).toMatch(/^AbortError/);
    const after = await until(disk, (d) => d.staged === 0, 10_000);
    expect(after.entries).not.toContain(partitioned('/models/big-abort.onnx'));
  });

  it('chunks left by an engine host that closed mid-download are swept when the next one starts', async () => {
    server.routes.set('/models/big-close.onnx', slowRoute(BIG, 512 * 1024, 40));
    await startLoad(`${server.origin}/models/big-close.onnx`);
    await until(disk, (d) => d.staged >= 1);
    await sw().evaluate(() => chrome.offscreen.closeDocument());
    expect(await outcome()).toMatch(/^OperationError/);
    expect((await disk()).staged).toBeGreaterThan(0); // the closed host could not clean up after itself
    // Any request starts a new engine host, which sweeps the leftovers.
    expect(await page.evaluate(() => (window as any).webq.capabilities().then(() => 'ok'))).toBe('ok');
    const after = await until(disk, (d) => d.staged === 0, 10_000);
    expect(after.entries).not.toContain(partitioned('/models/big-close.onnx'));
  });
});

describe('a pinned registry entry (Chromium)', () => {
  const REVISION = '0123456789abcdef0123456789abcdef01234567';
  const files = vitHubFiles();
  const pins = Object.fromEntries(
    Object.entries(files).map(([name, c]) => [name, createHash('sha256').update(c).digest('hex')]),
  );
  const addEntry = (id: string, repo: string) =>
    sw().evaluate((entry) => chrome.runtime.sendMessage({ type: 'webq-test:add-pinned-registry-entry', entry }), {
      id,
      repo,
      task: 'image-classification',
      description: 'pinned test entry',
      revision: REVISION,
      sha256: pins,
    });
  const classify = (id: string) =>
    page.evaluate(async (id) => {
      const canvas = document.createElement('canvas');
      canvas.width = 64;
      canvas.height = 48;
      const g = canvas.getContext('2d')!;
      g.fillStyle = '#ff0000';
      g.fillRect(0, 0, 64, 48);
      return (window as any).webq.run(id, canvas, { backend: 'wasm' }).then(
        (r: any) => ({ ok: true, label: r.output.labels[0].label as string }),
        (e: Error) => ({ ok: false, error: `${e.name}: ${e.message}` }),
      );
    }, id);

  beforeAll(async () => {
    mirrorRepo(server, '/hub', 'test/vit', files, REVISION);
    mirrorRepo(
      server,
      '/hub',
      'test/vit-tampered',
      { ...files, 'onnx/model.onnx': vitHubFiles({ staticBatch: 1 })['onnx/model.onnx']! },
      REVISION,
    );
    const options = await chromium.context.newPage();
    await options.goto(`chrome-extension://${chromium.extensionId}/options/options.html`);
    await saveModelHost(options, `${server.origin}/hub`);
    await options.close();
    // The engine host must be up to receive the hook (a request starts it).
    await page.evaluate(() => (window as any).webq.capabilities());
    expect(await addEntry('test-pinned-vit', 'test/vit')).toEqual({ added: 'test-pinned-vit' });
    expect(await addEntry('test-tampered-vit', 'test/vit-tampered')).toEqual({ added: 'test-tampered-vit' });
  });

  it('loads from its commit with every file matching its pin', async () => {
    expect(await classify('test-pinned-vit')).toEqual({ ok: true, label: 'red' });
    for (const file of Object.keys(files))
      expect(server.hits.get(`/hub/test/vit/resolve/${REVISION}/${file}`), file).toBe(1);
    expect([...server.hits.keys()].filter((p) => p.includes('/resolve/main/'))).toEqual([]);
  });

  it('a file that is not what its pin says is refused with a generic DataError and not cached', async () => {
    const r = await classify('test-tampered-vit');
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/^DataError: .*onnx\/model\.onnx does not match its pinned sha256$/);
    expect(r.error).not.toMatch(/[0-9a-f]{64}/);
    expect((await disk()).entries.filter((k) => k.includes('test/vit-tampered'))).toEqual([]);
  });
});
