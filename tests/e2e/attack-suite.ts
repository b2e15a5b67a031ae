/**
 * Attacks a consented page can try through webq (issue 13, SPEC §3), run in every browser: make webq read for it
 * what it could not read itself (another loopback port without CORS, directly, as a task's tokenizer, or behind a
 * redirect from a server it may read), learn something from the errors (body, size, hash, status, parser text),
 * and learn what another origin loaded. Every case has a control that succeeds, so a refusal is never vacuous.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { identityModel } from '../support/onnx-models';
import { slowRoute, startServer, type TestServer } from '../../tools/server';
import type { PageLike } from './webq-suite';

export interface AttackContext {
  /** A consented page on `server`'s origin (127.0.0.1). */
  page: PageLike;
  server: TestServer;
  /** Opens a consented page of another origin (localhost on the same port: same server, different origin). */
  otherOrigin(): Promise<PageLike>;
}

type Json = any; // what page.evaluate hands back

const SECRET_TEXT = 'SECRET=hunter2\n';
const SECRET_JSON = JSON.stringify({ token: 'hunter2-json' });
const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

/** Calls webq in the page, collecting progress; returns the outcome as plain data. */
function attempt(page: PageLike, method: 'run' | 'load', model: unknown, options: Record<string, unknown> = {}) {
  return page.evaluate(
    async ({ method, model, options }) => {
      const progress: { phase: string; loaded: number; total: number }[] = [];
      const input = { x: { type: 'float32', data: new Float32Array([1, 2, 3]), dims: [3] } };
      const onProgress = (p: { phase: string; loaded: number; total: number }) => progress.push(p);
      const webq = (window as any).webq;
      const call =
        method === 'run'
          ? webq.run(model, input, { ...options, onProgress })
          : webq.load(model, { ...options, onProgress });
      try {
        const r = await call;
        return { ok: true, progress, output: method === 'run' ? Array.from(r.output.y.data as Float32Array) : null };
      } catch (e) {
        return { ok: false, name: (e as Error).name, message: (e as Error).message, progress };
      }
    },
    { method, model, options },
  );
}

export function attackSuite(ctx: () => AttackContext): void {
  /** Another loopback port that sends no CORS header: what the page may not read. */
  let victim: TestServer;
  /** A CORS-open server whose files both origins load (the cross-site cache probe). */
  let shared: TestServer;
  const onnx = identityModel('float32');

  beforeAll(async () => {
    victim = await startServer(
      {
        '/secret.txt': new TextEncoder().encode(SECRET_TEXT),
        '/secret.json': new TextEncoder().encode(SECRET_JSON),
        '/internal.onnx': onnx,
        // Control: the same model from the same server, readable by any origin.
        '/public.onnx': () => ({ status: 200, body: onnx, headers: { 'access-control-allow-origin': '*' } }),
      },
      0,
      { cors: false },
    );
    shared = await startServer({ '/probe.onnx': identityModel('float32') });
    const { server } = ctx();
    // The page's own (CORS-open) server redirects into the victim: the final response is what counts.
    server.routes.set('/attack/redirect.onnx', () => ({
      status: 302,
      body: '',
      headers: { location: `${victim.origin}/internal.onnx` },
    }));
    server.routes.set('/attack/redirect-public.onnx', () => ({
      status: 302,
      body: '',
      headers: { location: `${victim.origin}/public.onnx` },
    }));
    server.routes.set('/attack/identity.onnx', onnx);
    server.routes.set('/attack/not-json/tokenizer.json', new TextEncoder().encode(SECRET_TEXT));
    server.routes.set('/attack/slow-identity.onnx', slowRoute(onnx, 16, 100));
  });
  afterAll(async () => {
    await victim?.close();
    await shared?.close();
  });

  /** Nothing of the victim's body, size, hash or status is in what the page got. */
  function expectNothingLeaked(result: Json, body: Uint8Array | string): void {
    const text = JSON.stringify(result);
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain(sha256(bytes));
    expect(text).not.toMatch(/HTTP \d{3}/);
    expect(text).not.toMatch(new RegExp(`\\b${bytes.byteLength}\\b`));
    expect(result.progress.filter((p: Json) => p.phase === 'download' || p.phase === 'cache')).toEqual([]);
  }

  describe('webq reads for a page only what the page could read itself', () => {
    it('a non-CORS file on another loopback port (text, JSON, ONNX) is refused before any byte is reported', async () => {
      const { page } = ctx();
      for (const [path, body] of [
        ['/secret.txt', SECRET_TEXT],
        ['/secret.json', SECRET_JSON],
        ['/internal.onnx', onnx],
      ] as const) {
        const result = await attempt(page, 'run', `${victim.origin}${path}`);
        expect(result, path).toMatchObject({ ok: false, name: 'NotAllowedError' });
        expectNothingLeaked(result, body);
      }
      // A missing file there looks the same: the status is not the page's to read either.
      const missing = await attempt(page, 'load', `${victim.origin}/nothing-here.onnx`);
      expect(missing).toMatchObject({ ok: false, name: 'NotAllowedError' });
      // Control: the same model from the same server with CORS runs (so the refusal above is the CORS rule).
      expect(await attempt(page, 'run', `${victim.origin}/public.onnx`)).toMatchObject({ ok: true, output: [1, 2, 3] });
    });

    it("a non-CORS file as a task model's tokenizer is refused and its body never shows", async () => {
      const { page, server } = ctx();
      // The graph is loaded first, so the only download the task load tries is the tokenizer's.
      expect(await attempt(page, 'load', `${server.origin}/attack/identity.onnx`)).toMatchObject({ ok: true });
      const result = await attempt(page, 'load', {
        url: `${server.origin}/attack/identity.onnx`,
        task: 'feature-extraction',
        tokenizer: `${victim.origin}/secret.json`,
      });
      expect(result).toMatchObject({ ok: false, name: 'NotAllowedError' });
      expectNothingLeaked(result, SECRET_JSON);
    });

    it('a redirect from a readable server into the non-CORS one is refused; a redirect to a CORS file works', async () => {
      const { page, server } = ctx();
      const result = await attempt(page, 'run', `${server.origin}/attack/redirect.onnx`);
      expect(result).toMatchObject({ ok: false, name: 'NotAllowedError' });
      expectNothingLeaked(result, onnx);
      expect(await attempt(page, 'run', `${server.origin}/attack/redirect-public.onnx`)).toMatchObject({
        ok: true,
        output: [1, 2, 3],
      });
    });

    it('errors carry no parser text and no hash of what was received', async () => {
      const { page, server } = ctx();
      const notJson = await attempt(page, 'load', {
        url: `${server.origin}/attack/identity.onnx`,
        task: 'feature-extraction',
        tokenizer: `${server.origin}/attack/not-json/tokenizer.json`,
      });
      expect(notJson).toMatchObject({ ok: false, name: 'DataError', message: expect.stringMatching(/not valid JSON/) });
      expect(JSON.stringify(notJson)).not.toContain('SECRET');
      const wrongHash = await attempt(page, 'load', {
        url: `${server.origin}/attack/identity.onnx`,
        sha256: '0'.repeat(64),
      });
      expect(wrongHash).toMatchObject({ ok: false, name: 'DataError', message: expect.stringMatching(/sha256/) });
      expect(JSON.stringify(wrongHash)).not.toContain(sha256(onnx));
      expect(JSON.stringify(wrongHash)).not.toMatch(/[0-9a-f]{64}/);
    });
  });

  describe('integrity', () => {
    it('a call that joins a load in progress still gets its sha256 checked', async () => {
      const { page, server } = ctx();
      const url = `${server.origin}/attack/slow-identity.onnx`;
      const outcomes = await page.evaluate(
        async ({ url, good }) => {
          const webq = (window as any).webq;
          const first = webq.load(url).then(
            () => 'ok',
            (e: Error) => e.name,
          );
          await new Promise((r) => setTimeout(r, 100)); // the first load is downloading now
          const wrong = webq.load({ url, sha256: '0'.repeat(64) }).then(
            () => 'ok',
            (e: Error) => e.name,
          );
          const right = webq.load({ url, sha256: good }).then(
            () => 'ok',
            (e: Error) => e.name,
          );
          return Promise.all([first, wrong, right]);
        },
        { url, good: sha256(onnx) },
      );
      expect(outcomes).toEqual(['ok', 'DataError', 'ok']);
    });
  });

  describe('one origin cannot tell what another loaded', () => {
    it('a URL another origin loaded is downloaded again for this one, with progress, and fetched for real', async () => {
      const { page } = ctx();
      const url = `${shared.origin}/probe.onnx`;
      const first = await attempt(page, 'run', url);
      expect(first).toMatchObject({ ok: true, output: [1, 2, 3] });
      expect(first.progress.some((p: Json) => p.phase === 'download')).toBe(true);
      const hits = shared.hits.get('/probe.onnx');
      const other = await ctx().otherOrigin();
      const second = await attempt(other, 'run', url);
      expect(second).toMatchObject({ ok: true, output: [1, 2, 3] });
      // Exactly what a first load shows: a download with its progress, and a request the server saw.
      expect(second.progress.some((p: Json) => p.phase === 'download' && p.loaded === p.total && p.total > 0)).toBe(
        true,
      );
      expect(shared.hits.get('/probe.onnx')).toBe(hits! + 1);
      // Within one origin the model is kept: no new request.
      expect(await attempt(other, 'run', url)).toMatchObject({ ok: true });
      expect(shared.hits.get('/probe.onnx')).toBe(hits! + 1);
    });
  });
}
