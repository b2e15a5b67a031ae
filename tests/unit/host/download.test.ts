/** Downloads with Node's real fetch against a real local server: the CORS rule, redirects, generic errors, limits. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { DOWNLOAD_LIMITS, download, downloadLoad } from '../../../extension/host/download';
import { slowRoute, startServer, type TestServer } from '../../../tools/server';

const SECRET = new TextEncoder().encode('SECRET=hunter2');
const hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let open: TestServer;
let closed: TestServer;
const defaults = { ...DOWNLOAD_LIMITS };

beforeAll(async () => {
  closed = await startServer(
    {
      '/secret.txt': SECRET,
      '/for-site.txt': () => ({
        status: 200,
        body: SECRET,
        headers: { 'access-control-allow-origin': 'https://site.example' },
      }),
      '/stall': {
        raw(_req, res) {
          res.writeHead(200, { 'content-length': '100' });
          res.write('x');
        },
      },
    },
    0,
    { cors: false },
  );
  open = await startServer({
    '/model.bin': SECRET,
    '/to-closed': () => ({ status: 302, body: '', headers: { location: `${closed.origin}/secret.txt` } }),
    '/slow': slowRoute(new Uint8Array(4096), 1024, 150),
    '/boom': () => ({ status: 500, body: 'internal detail' }),
  });
});
afterAll(async () => {
  await open.close();
  await closed.close();
});
afterEach(() => Object.assign(DOWNLOAD_LIMITS, defaults));

const forPage = (origin: string) => ({ origin, page: true });
const get = (
  url: string,
  requester = forPage('http://127.0.0.1:1'),
  extra: { sha256?: string; signal?: AbortSignal } = {},
) => {
  const progress: number[] = [];
  const result = download(new URL(url), {
    signal: extra.signal ?? new AbortController().signal,
    requester,
    sha256: extra.sha256,
    onProgress: (l) => progress.push(l),
  });
  return { result, progress };
};

describe('download for a page', () => {
  it('reads a CORS-open file; refuses one without CORS before any progress, saying nothing of it', async () => {
    expect((await get(`${open.origin}/model.bin`).result).bytes).toEqual(SECRET);
    const { result, progress } = get(`${closed.origin}/secret.txt`);
    const err = await result.catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'NotAllowedError' });
    expect(String((err as Error).message)).not.toMatch(/hunter2|HTTP|\b14\b/);
    expect(progress).toEqual([]);
  });

  it("the page's own origin needs no CORS header; an allow-origin for another site is not enough", async () => {
    expect((await get(`${closed.origin}/secret.txt`, forPage(closed.origin)).result).bytes).toEqual(SECRET);
    await expect(get(`${closed.origin}/for-site.txt`).result).rejects.toMatchObject({ name: 'NotAllowedError' });
    expect((await get(`${closed.origin}/for-site.txt`, forPage('https://site.example')).result).bytes).toEqual(SECRET);
  });

  it('the user (extension pages, registry) is not held to CORS', async () => {
    expect(
      (await get(`${closed.origin}/secret.txt`, { origin: 'chrome-extension://x', page: false }).result).bytes,
    ).toEqual(SECRET);
  });

  it('a redirect into a non-CORS server is judged by the final response', async () => {
    await expect(get(`${open.origin}/to-closed`).result).rejects.toMatchObject({ name: 'NotAllowedError' });
  });

  it('errors carry no status text, body or received hash', async () => {
    const boom = await get(`${open.origin}/boom`).result.catch((e: Error) => e);
    expect(boom).toMatchObject({ name: 'NetworkError' });
    expect((boom as Error).message).not.toContain('internal detail');
    const wrong = await get(`${open.origin}/model.bin`, undefined, { sha256: '0'.repeat(64) }).result.catch(
      (e: Error) => e,
    );
    expect(wrong).toMatchObject({ name: 'DataError' });
    expect((wrong as Error).message).not.toContain(hex(SECRET));
  });
});

describe('global limits', () => {
  it('a stalled body fails with TimeoutError after the idle limit', async () => {
    DOWNLOAD_LIMITS.idleMs = 300;
    const started = Date.now();
    await expect(
      get(`${closed.origin}/stall`, { origin: 'chrome-extension://x', page: false }).result,
    ).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a download longer than the total limit fails with TimeoutError', async () => {
    DOWNLOAD_LIMITS.totalMs = 200;
    await expect(get(`${open.origin}/slow`).result).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it('at most `concurrent` downloads run; the rest wait their turn (abortable) and all finish', async () => {
    DOWNLOAD_LIMITS.concurrent = 2;
    const calls = [0, 1, 2, 3].map(() => get(`${open.origin}/slow`).result);
    await new Promise((r) => setTimeout(r, 100));
    expect(downloadLoad()).toMatchObject({ running: 2, waiting: 2 });
    const controller = new AbortController();
    const aborted = get(`${open.origin}/slow`, undefined, { signal: controller.signal }).result;
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    expect((await Promise.all(calls)).every((d) => d.bytes.byteLength === 4096)).toBe(true);
    expect(downloadLoad()).toEqual({ running: 0, waiting: 0, bytes: 0 });
  });

  it('bytes in flight over the global cap fail with QuotaExceededError and are given back', async () => {
    DOWNLOAD_LIMITS.bytesInFlight = 2048;
    await expect(get(`${open.origin}/slow`).result).rejects.toMatchObject({ name: 'QuotaExceededError' });
    expect(downloadLoad().bytes).toBe(0);
  });
});
