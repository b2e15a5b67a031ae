/**
 * Hostile pages (issue 8), in Chromium with the built extension: a seeded fuzz of ≥ 1,000 malformed calls and
 * messages posted straight to the bridge; isolation between origins; what the extension will fetch and with which
 * headers; the consent prompt cannot be skipped; per-origin rate limits. docs/security.md maps each to the rule it
 * shows. Run: npx vitest run tests/e2e/security.test.ts (after `npm run build`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page, Worker } from 'playwright-core';
import { launchChromium, openWithConsent, type ChromiumWithExtension } from '../../tools/browsers';
import { BLANK_PAGE, startServer, type TestServer } from '../../tools/server';
import { identityModel } from '../support/onnx-models';
import { MODELS } from '../../tools/fixtures';
import { decodeInPage, generateFuzzCases, type FuzzCase } from './fuzz';

const FUZZ_SEED = Number(process.env.WEBQ_FUZZ_SEED ?? 20260408);
const FUZZ_CASES = 1200;
const ERROR_NAMES = [
  'NotAllowedError',
  'NotSupportedError',
  'AbortError',
  'DataError',
  'NotFoundError',
  'NetworkError',
  'QuotaExceededError',
  'TimeoutError',
  'OperationError',
];

let chromium: ChromiumWithExtension;
let server: TestServer;
let page: Page;
let worker: Worker;
/** Requests to /hang/* are held open until released (or the client goes away). */
const hanging = new Set<ServerResponse>();
/** Headers of every request to /echo/*. */
const seenHeaders: Record<string, string | string[] | undefined>[] = [];

const localhost = () => server.origin.replace('127.0.0.1', 'localhost'); // another origin, same server

/** Sets an origin's stored consent from the service worker (what the prompt's answer would store). */
const setConsent = (origin: string, decision: 'allow' | 'deny' | null) =>
  worker.evaluate(
    async ({ origin, decision }) => {
      const stored = ((await chrome.storage.local.get('consent')).consent ?? {}) as Record<string, string>;
      if (decision) stored[origin] = decision;
      else delete stored[origin];
      await chrome.storage.local.set({ consent: stored });
    },
    { origin, decision },
  );

async function openAllowed(url: string): Promise<Page | null> {
  await setConsent(new URL(url).origin, 'allow');
  const p = await chromium.context.newPage();
  if (
    !(await p.goto(url).then(
      () => true,
      () => false,
    ))
  ) {
    await p.close();
    return null;
  }
  await p.waitForFunction(() => 'webq' in window);
  return p;
}

beforeAll(async () => {
  server = await startServer({ '/page.html': BLANK_PAGE(), '/page2.html': BLANK_PAGE('second tab') });
  server.routes.set('/models/identity_float32.onnx', identityModel('float32'));
  server.routes.set('/models/silero_vad.onnx', MODELS.sileroVad);
  server.routes.set('/hang/model.onnx', {
    raw: (_req: IncomingMessage, res: ServerResponse) => {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
    },
  });
  server.routes.set('/echo/model.onnx', {
    raw: (req: IncomingMessage, res: ServerResponse) => {
      seenHeaders.push({ ...req.headers });
      const body = identityModel('float32');
      res
        .writeHead(200, {
          'access-control-allow-origin': '*',
          'access-control-allow-credentials': 'true',
          'content-type': 'application/octet-stream',
          'content-length': String(body.byteLength),
        })
        .end(body);
    },
  });
  chromium = await launchChromium();
  worker = chromium.context.serviceWorkers()[0]!;
  page = await openWithConsent(chromium.context, `${server.origin}/page.html`);
});

afterAll(async () => {
  for (const res of hanging) res.destroy();
  await chromium?.close();
  await server?.close();
});

/** Runs the fuzz cases in `p`; returns what each got and whatever escaped into the page. */
async function runFuzz(p: Page, cases: FuzzCase[], identity: string) {
  // (Recipes are recursive: handed over as unknown, or TypeScript chases Playwright's Serializable type forever.)
  return p.evaluate(
    async ({ cases: raw, decoderSrc, identity, errorNames }) => {
      const cases = raw as FuzzCase[];
      // The decoder arrives as source (it may reference esbuild's __name helper: give it a no-op one).
      const decode = new Function('__name', `return (${decoderSrc})`)((f: unknown) => f) as (r: unknown) => unknown;
      const webq = (window as any).webq;
      const escaped: string[] = [];
      const onError = (e: ErrorEvent) => escaped.push(`error: ${e.message}`);
      const onRejection = (e: PromiseRejectionEvent) =>
        escaped.push(`unhandledrejection: ${e.reason?.name ?? ''} ${e.reason?.message ?? String(e.reason)}`);
      addEventListener('error', onError);
      addEventListener('unhandledrejection', onRejection);
      const replies = new Map<string, any[]>();
      const onMessage = (e: MessageEvent) => {
        if (e.source !== window || e.data?.tag !== 'webq:bridge' || !e.data.message) return;
        const m = e.data.message;
        if (String(m.id).startsWith('forged-')) return; // a case posted this "reply" to itself
        if (!replies.has(m.id)) replies.set(m.id, []);
        replies.get(m.id)!.push(m);
      };
      addEventListener('message', onMessage);
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      const timeout = (ms: number) =>
        new Promise((_, reject) =>
          setTimeout(() => reject(Object.assign(new Error('no answer'), { name: 'timeout' })), ms),
        );

      const outcomes: { n: number; got: string; message: string }[] = [];
      let served = 0;
      const goodRun = async (k: number) => {
        const x = Float32Array.from({ length: 3 }, (_, i) => k * 10 + i);
        const res = await webq.run(identity, { x: { type: 'float32', data: x, dims: [3] } }, { backend: 'wasm' });
        const y = Array.from(res.output.y.data as Float32Array);
        if (y.join() !== Array.from(x).join()) throw new Error(`good run ${k} got ${y}`);
        served++;
      };

      const apiCases = cases.filter((c) => c.via === 'api');
      const bridgeCases = cases.filter((c) => c.via === 'bridge');
      for (let i = 0; i < apiCases.length; i += 16) {
        const batch = apiCases.slice(i, i + 16);
        outcomes.push(
          ...(await Promise.all(
            batch.map(async (c) => {
              try {
                const args = c.args.map((a) => decode(a));
                await Promise.race([webq[c.method!](...args), timeout(30_000)]);
                return { n: c.n, got: 'resolved', message: '' };
              } catch (e: any) {
                return { n: c.n, got: String(e?.name), message: String(e?.message ?? '') };
              }
            }),
          )),
        );
        if (i % 160 === 0) await goodRun(i);
      }
      for (let i = 0; i < bridgeCases.length; i += 25) {
        const batch = bridgeCases.slice(i, i + 25);
        for (const c of batch) {
          try {
            window.postMessage(decode(c.args[0]), '*');
          } catch (e: any) {
            outcomes.push({ n: c.n, got: `postMessage threw ${e?.name}`, message: String(e?.message) });
          }
        }
        const deadline = performance.now() + 30_000;
        while (
          performance.now() < deadline &&
          batch.some((c) => c.replyId && !replies.get(c.replyId)?.some((m) => m.type !== 'progress'))
        )
          await sleep(20);
        if (i % 250 === 0) await goodRun(100_000 + i);
      }
      await sleep(1000); // late or duplicate replies would arrive by now
      await goodRun(999_999);
      removeEventListener('error', onError);
      removeEventListener('unhandledrejection', onRejection);
      removeEventListener('message', onMessage);
      const expectedIds = new Set(bridgeCases.map((c) => c.replyId).filter(Boolean));
      for (const c of bridgeCases) {
        if (!c.replyId) continue;
        const got = (replies.get(c.replyId) ?? []).filter((m) => m.type !== 'progress');
        outcomes.push({
          n: c.n,
          got:
            got.length === 0
              ? 'no reply'
              : got.length > 1
                ? `${got.length} replies`
                : got[0].type === 'result'
                  ? 'resolved'
                  : String(got[0].error?.name),
          message: got[0]?.error?.message ?? '',
        });
      }
      // Replies to the page API's own calls (ids "<prefix>-<n>") are the API's business; any other id is unexpected.
      const unexpected = [...replies.keys()].filter((id) => !expectedIds.has(id) && !/^[a-z0-9]{1,12}-\d+$/.test(id));
      const polluted = [
        ({} as any).polluted,
        ([] as any).polluted,
        (Object.prototype as any).polluted,
        (Array.prototype as any).polluted,
      ].filter((v) => v !== undefined).length;
      return { outcomes, escaped, unexpected, served, polluted, errorNames };
    },
    { cases: cases as unknown, decoderSrc: decodeInPage.toString(), identity, errorNames: ERROR_NAMES },
  );
}

describe('fuzz: hostile calls and messages straight to the bridge', () => {
  it(`answers each of ${FUZZ_CASES} generated cases with a clear error (or ignores it where the protocol must), and keeps serving`, async () => {
    const identity = `${server.origin}/models/identity_float32.onnx`;
    const cases = generateFuzzCases(FUZZ_SEED, FUZZ_CASES, {
      identity,
      vad: `${server.origin}/models/silero_vad.onnx`,
      forbidden: 'http://example.com/model.onnx',
    });
    expect(cases.length).toBeGreaterThanOrEqual(1000);
    const started = Date.now();
    const r = await runFuzz(page, cases, identity);
    const byN = new Map(cases.map((c) => [c.n, c]));
    const failures: string[] = [];
    for (const o of r.outcomes) {
      const c = byN.get(o.n)!;
      const named = ERROR_NAMES.includes(o.got) && o.message.length > 5;
      const ok = c.expect === 'error' ? named : c.expect === 'answered' ? named || o.got === 'resolved' : false;
      if (!ok) failures.push(`#${c.n} ${c.label} [expected ${c.expect}]: ${o.got} ${o.message.slice(0, 160)}`);
    }
    const silent = cases.filter((c) => c.expect === 'silent').length;
    const tally: Record<string, number> = {};
    for (const o of r.outcomes) tally[o.got] = (tally[o.got] ?? 0) + 1;
    console.log(
      `[fuzz] seed ${FUZZ_SEED}: ${cases.length} cases (${cases.filter((c) => c.via === 'api').length} through the API, ${cases.filter((c) => c.via === 'bridge').length} straight to the bridge, ${silent} that must go unanswered) in ${((Date.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(tally)}`,
    );
    expect(failures).toEqual([]);
    expect(r.outcomes.length + silent).toBe(cases.length);
    expect(r.unexpected).toEqual([]); // no reply to an id no case used (invalid ids, aborts, foreign envelopes)
    expect(r.escaped).toEqual([]); // nothing thrown into the page
    expect(r.polluted).toBe(0);
    expect(r.served).toBeGreaterThanOrEqual(5); // good runs interleaved with the fuzz, each with its own result
  });
});

describe('origins are isolated', () => {
  it("another origin cannot read a page's results, consent state or models, nor abort or unload them", async () => {
    const other = await chromium.context.newPage();
    await other.goto(`${localhost()}/page.html`);
    await other.waitForFunction(() => 'webq' in window);
    const hang = `${server.origin}/hang/model.onnx?iso`;
    // The consented page starts a request under an id it chose, straight through the bridge.
    await page.evaluate((u) => {
      (window as any).__replies = [];
      addEventListener('message', (e) => {
        if (e.data?.tag === 'webq:bridge' && e.data.message) (window as any).__replies.push(e.data.message);
      });
      window.postMessage(
        {
          tag: 'webq:page',
          message: { type: 'request', id: 'shared-id', method: 'load', params: { model: u, options: {} } },
        },
        '*',
      );
    }, hang);
    await expect.poll(() => hanging.size).toBeGreaterThan(0);
    // The other origin (no consent yet) listens for anything, forges an abort of that id and asks for the same id.
    const prompt = chromium.context.waitForEvent('page', { predicate: (x) => x.url().includes('/prompt.html') });
    const seen = other.evaluate(async () => {
      const got: any[] = [];
      addEventListener('message', (e) => {
        if (e.data?.tag === 'webq:bridge') got.push(e.data);
      });
      window.postMessage({ tag: 'webq:page', message: { type: 'abort', id: 'shared-id' } }, '*');
      window.postMessage(
        { tag: 'webq:page', message: { type: 'request', id: 'shared-id', method: 'capabilities', params: {} } },
        '*',
      );
      await new Promise((r) => setTimeout(r, 3000));
      return got
        .filter((m) => m.message)
        .map((m) => `${m.message.id}:${m.message.type}:${m.message.error?.name ?? ''}`);
    });
    const promptPage = await prompt;
    // Asked for itself, not covered by the other origin's consent (the prompt's script fills the origin in: wait).
    await expect.poll(() => promptPage.textContent('[data-webq=origin]')).toBe(localhost());
    await promptPage.click('[data-webq=deny]');
    expect(await seen).toEqual(['shared-id:error:NotAllowedError']); // only its own answer
    // The first page's request was not aborted by the forged abort: it completes when the server answers.
    const [res] = [...hanging];
    const body = identityModel('float32');
    res!
      .writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.byteLength) })
      .end(body);
    // The load still has to finish after the answer: 2.4–3.6 s on this 2-core VM, before and after
    // issue 14's transport change, past expect.poll's 1 s default.
    await expect
      .poll(() => page.evaluate(() => (window as any).__replies.map((m: any) => `${m.id}:${m.type}`)), {
        timeout: 15_000,
      })
      .toEqual(['shared-id:result']);

    // What a consented origin can learn about others: capabilities carry no origins, models or consent.
    const caps = await page.evaluate(() => (window as any).webq.capabilities().then((c: unknown) => JSON.stringify(c)));
    expect(caps).not.toContain('localhost');
    expect(caps).not.toContain('/models/');
    expect(caps).not.toContain('/hang/');
    // A denied origin gets NotAllowedError for every method, with nothing about other sites in it.
    const denied = await other.evaluate(async (u) => {
      const webq = (window as any).webq;
      const name = (p: Promise<unknown>) =>
        p.then(
          () => 'resolved',
          (e: Error) => `${e.name}: ${e.message}`,
        );
      return [
        await name(webq.capabilities()),
        await name(webq.load(u)),
        await name(webq.unload(u)),
        await name(webq.run(u, { x: { type: 'float32', data: new Float32Array(1), dims: [1] } })),
      ];
    }, `${server.origin}/models/identity_float32.onnx`);
    for (const d of denied) {
      expect(d).toMatch(/^NotAllowedError: /);
      expect(d).not.toContain('127.0.0.1');
    }
    await other.close();
  });

  it("one origin's unload does not unload another origin's model", async () => {
    const u = `${server.origin}/models/silero_vad.onnx?shared`;
    const runMetrics = (p: Page) =>
      p.evaluate(
        (u) =>
          (window as any).webq
            .run(
              u,
              {
                input: { type: 'float32', data: new Float32Array(512), dims: [1, 512] },
                state: { type: 'float32', data: new Float32Array(256), dims: [2, 1, 128] },
                sr: { type: 'int64', data: new BigInt64Array([16000n]), dims: [] },
              },
              { backend: 'wasm' },
            )
            .then(
              (r: any) => r.performanceMetrics,
              (e: Error) => `${e.name}: ${e.message}`,
            ),
        u,
      );
    // A second origin, and another site: localhost on a second server's port (127.0.0.1 and localhost on the first
    // port are taken by the tests above). It must be reachable: openWithConsent fails the test if it is not.
    const otherServer = await startServer({ '/page.html': BLANK_PAGE('second origin') });
    const secondOrigin = otherServer.origin.replace('127.0.0.1', 'localhost');
    try {
      const second = await openWithConsent(chromium.context, `${secondOrigin}/page.html`);
      expect(await second.evaluate(() => location.origin)).toBe(secondOrigin);
      expect(await page.evaluate(() => location.origin)).toBe(server.origin);
      expect(
        await page.evaluate(
          (u) =>
            (window as any).webq.load(u, { backend: 'wasm' }).then(
              () => 'loaded',
              (e: Error) => e.name,
            ),
          u,
        ),
      ).toBe('loaded');
      const secondSide = await second.evaluate(
        (u) =>
          (window as any).webq
            .load(u, { backend: 'wasm' })
            .then(() => (window as any).webq.unload(u))
            .then(
              () => 'loaded and unloaded',
              (e: Error) => `${e.name}: ${e.message}`,
            ),
        u,
      );
      expect(secondSide).toBe('loaded and unloaded');
      // Still loaded for the first origin: its run does not load again (no loadTimeMs).
      const first = await runMetrics(page);
      expect(first).toMatchObject({ backend: 'wasm' });
      expect(first.loadTimeMs).toBeUndefined();
      // The second origin's unload did take effect for itself: its next run loads the model again.
      const again = await runMetrics(second);
      expect(again).toMatchObject({ backend: 'wasm' });
      expect(again.loadTimeMs).toEqual(expect.any(Number));
      await second.close();
    } finally {
      await otherServer.close();
    }
  });
});

describe('what the extension fetches', () => {
  it("never sends the page's cookies or credentials, even to the page's own origin", async () => {
    seenHeaders.length = 0;
    const u = `${server.origin}/echo/model.onnx`;
    const control = await page.evaluate(async (u) => {
      document.cookie = 'webq_secret=s3cr3t; path=/';
      await fetch(u, { credentials: 'include', headers: { authorization: 'Bearer page-token' } });
      return document.cookie;
    }, u);
    expect(control).toContain('webq_secret=s3cr3t');
    // The control request (the page's own fetch) carries them: the check below can fail.
    expect(String(seenHeaders[0]?.cookie)).toContain('webq_secret=s3cr3t');
    expect(seenHeaders[0]?.authorization).toBe('Bearer page-token');
    const info = await page.evaluate(
      (u) =>
        (window as any).webq.load(`${u}?through-webq`, { backend: 'wasm' }).then(
          (i: any) => i.backend,
          (e: Error) => e.name,
        ),
      u,
    );
    expect(info).toBe('wasm');
    expect(seenHeaders).toHaveLength(2);
    expect(seenHeaders[1]!.cookie).toBeUndefined();
    expect(seenHeaders[1]!.authorization).toBeUndefined();
    expect(seenHeaders[1]!.referer).toBeUndefined();
  });

  it("refuses URLs outside https, the page's origin and loopback, and redirects that lead there", async () => {
    // A second server on 127.0.0.2: reachable, but not an allowed host (loopback means localhost/127.0.0.1/[::1]).
    const innerHits: string[] = [];
    const inner = createServer((req, res) => {
      innerHits.push(req.url ?? '');
      const b = identityModel('float32');
      res.writeHead(200, { 'content-length': String(b.byteLength) }).end(b);
    });
    await new Promise<void>((resolve) => inner.listen(0, '127.0.0.2', resolve));
    const innerUrl = `http://127.0.0.2:${(inner.address() as AddressInfo).port}/secret.onnx`;
    server.routes.set('/redirect/model.onnx', () => ({ status: 302, body: '', headers: { location: innerUrl } }));
    server.routes.set('/redirect/ok.onnx', () => ({
      status: 302,
      body: '',
      headers: { location: `${server.origin}/models/identity_float32.onnx?redirected` },
    }));
    const redirected = await page.evaluate(async (base) => {
      const webq = (window as any).webq;
      const name = (p: Promise<unknown>) =>
        p.then(
          () => 'resolved',
          (e: Error) => `${e.name}: ${e.message}`,
        );
      return {
        direct: await name(webq.load(`${base.replace('127.0.0.1', '127.0.0.2')}/m.onnx`)),
        bad: await name(webq.load(`${base}/redirect/model.onnx`, { backend: 'wasm' })),
        ok: await name(webq.load(`${base}/redirect/ok.onnx`, { backend: 'wasm' })),
      };
    }, server.origin);
    expect(redirected.direct).toMatch(/^NotAllowedError: /);
    expect(redirected.bad).toMatch(/^NotAllowedError: .*redirected to a location that is not allowed/); // the target is not named
    expect(redirected.ok).toBe('resolved'); // a redirect to an allowed URL is followed
    // Nothing of the refused target was cached: asking again goes to the network again (and is refused again).
    const again = await page.evaluate(
      (u) =>
        (window as any).webq.load(u, { backend: 'wasm' }).then(
          () => 'resolved',
          (e: Error) => e.name,
        ),
      `${server.origin}/redirect/model.onnx`,
    );
    expect(again).toBe('NotAllowedError');
    expect(server.hits.get('/redirect/model.onnx')).toBe(2);
    inner.close();
    const r = await page.evaluate(
      async ({ base, extension }) => {
        const webq = (window as any).webq;
        const name = (p: Promise<unknown>) =>
          p.then(
            () => 'resolved',
            (e: Error) => e.name,
          );
        const urls = [
          'http://example.com/m.onnx',
          'ftp://example.com/m.onnx',
          'file:///etc/passwd',
          'data:application/octet-stream;base64,AAAA',
          'blob:http://127.0.0.1/x',
          `chrome-extension://${extension}/manifest.json`,
          'http://127.0.0.2/m.onnx',
          'http://0.0.0.0/m.onnx',
          'http://10.0.0.1/m.onnx',
          'http://localhost.example.com/m.onnx',
          'https://user:pw@example.com/m.onnx',
          `${base.replace('http://', 'http://u:p@')}/models/identity_float32.onnx`,
        ];
        const out: Record<string, string> = {};
        for (const u of urls) out[u] = await name(webq.load(u));
        return out;
      },
      { base: server.origin, extension: chromium.extensionId },
    );
    for (const [u, got] of Object.entries(r)) expect(`${u}: ${got}`).toBe(`${u}: NotAllowedError`);
  });
});

describe('consent cannot be bypassed', () => {
  it('messages forged to the bridge before consent still wait for the prompt, and the page cannot answer it', async () => {
    const p = await chromium.context.newPage();
    await p.goto(`${localhost()}/page2.html?fresh`);
    await setConsent(localhost(), null); // forget what the earlier test stored for this origin: it is asked again
    const prompt = chromium.context.waitForEvent('page', { predicate: (x) => x.url().includes('/prompt.html') });
    const forged = p.evaluate(async (u) => {
      const got: any[] = [];
      addEventListener('message', (e) => {
        if (e.data?.tag === 'webq:bridge' && e.data.message) got.push(e.data.message);
      });
      // Straight to the bridge, as if the page API had already been allowed; then a forged consent answer.
      window.postMessage(
        {
          tag: 'webq:page',
          message: { type: 'request', id: 'forged-run', method: 'load', params: { model: u, options: {} } },
        },
        '*',
      );
      window.postMessage({ type: 'webq-consent-answer', origin: location.origin, decision: 'allow' }, '*');
      const runtime = (globalThis as any).chrome?.runtime;
      const canMessage = typeof runtime?.sendMessage === 'function';
      await new Promise((r) => setTimeout(r, 4000));
      return { got: got.map((m) => `${m.id}:${m.type}:${m.error?.name ?? ''}`), canMessage };
    }, `${server.origin}/models/identity_float32.onnx`);
    const promptPage = await prompt; // the forged request opened the prompt: it did not slip past it
    // Framing the prompt from the page is blocked (not a web-accessible resource).
    const framed = await p.evaluate(async (src) => {
      const frame = document.createElement('iframe');
      frame.src = src;
      document.body.append(frame);
      await new Promise((r) => setTimeout(r, 1500));
      try {
        return frame.contentDocument?.querySelector('[data-webq=allow]') ? 'reachable' : 'blocked';
      } catch {
        return 'blocked';
      }
    }, promptPage.url());
    expect(framed).toBe('blocked');
    const frames = p.frames().filter((f) => f.url().includes('prompt.html'));
    for (const f of frames)
      expect(
        await f
          .locator('[data-webq=allow]')
          .count()
          .catch(() => 0),
      ).toBe(0);
    const early = await forged;
    expect(early.got).toEqual([]); // nothing answered while the prompt was open: the forged "allow" did nothing
    expect(early.canMessage).toBe(false);
    await promptPage.click('[data-webq=deny]');
    const after = await p.evaluate(() =>
      (window as any).webq.capabilities().then(
        () => 'resolved',
        (e: Error) => e.name,
      ),
    );
    expect(after).toBe('NotAllowedError');
    await p.close();
  });
});

describe('rate limits per origin', () => {
  /** Starts `count` loads that hang at the server, from page `p`; returns their outcomes when they settle. */
  const startHanging = (p: Page, count: number, tag: string) =>
    p.evaluate(
      ({ count, tag, base }) => {
        const w = window as any;
        w.__controllers ??= [];
        const all: Promise<string>[] = [];
        for (let i = 0; i < count; i++) {
          const c = new AbortController();
          w.__controllers.push(c);
          all.push(
            w.webq.load(`${base}/hang/model.onnx?${tag}-${i}`, { signal: c.signal }).then(
              () => 'resolved',
              (e: Error) => e.name,
            ),
          );
        }
        w[`__settled_${tag}`] = Promise.all(all);
      },
      { count, tag, base: server.origin },
    );
  const abortAll = (p: Page) =>
    p.evaluate(() => {
      for (const c of (window as any).__controllers ?? []) c.abort();
      (window as any).__controllers = [];
    });
  const call = (p: Page, expr: 'capabilities' | 'load-hang', tag = 'x') =>
    p.evaluate(
      ({ expr, tag, base }) => {
        const webq = (window as any).webq;
        const c = new AbortController();
        if (expr === 'load-hang') (window as any).__controllers.push(c);
        const promise =
          expr === 'capabilities'
            ? webq.capabilities()
            : webq.load(`${base}/hang/model.onnx?${tag}`, { signal: c.signal });
        return Promise.race([
          promise.then(
            () => 'resolved',
            (e: Error) => `${e.name}: ${e.message}`,
          ),
          new Promise((r) => setTimeout(() => r('in flight'), 1500)),
        ]);
      },
      { expr, tag, base: server.origin },
    );

  it('refuses the 65th request in flight from one origin (counted across its tabs) with QuotaExceededError; other origins are unaffected; a closed tab gives its slots back', async () => {
    const tab2 = await chromium.context.newPage();
    await tab2.goto(`${server.origin}/page2.html`);
    await tab2.waitForFunction(() => 'webq' in window);
    await page.evaluate(() => {
      (window as any).__controllers = [];
    });
    await tab2.evaluate(() => {
      (window as any).__controllers = [];
    });
    await startHanging(page, 40, 'a');
    await startHanging(tab2, 24, 'b');
    await expect.poll(() => hanging.size).toBeGreaterThan(0);
    await page.waitForTimeout(500); // every message has reached the router
    expect(await call(page, 'capabilities')).toMatch(/^QuotaExceededError: .*64 webq requests in flight/);
    expect(await call(tab2, 'load-hang')).toMatch(/^QuotaExceededError: /);
    // Another origin, same moment: served (it was allowed in this browser by openWithConsent below).
    const other = (await openAllowed(`${localhost()}/page.html?rate`))!;
    expect(
      await other.evaluate(() =>
        (window as any).webq.capabilities().then(
          () => 'ok',
          (e: Error) => e.name,
        ),
      ),
    ).toBe('ok');
    await other.close();
    // One aborted request frees one slot.
    await page.evaluate(() => (window as any).__controllers.pop().abort());
    expect(await call(page, 'load-hang', 'refill')).toBe('in flight');
    expect(await call(page, 'capabilities')).toMatch(/^QuotaExceededError: /);
    // Closing the tab with 24 requests in flight frees its 24.
    await tab2.close();
    await expect.poll(() => call(page, 'capabilities')).toBe('resolved');
    await abortAll(page);
    const settled = await page.evaluate(() => (window as any).__settled_a);
    expect(new Set(settled)).toEqual(new Set(['AbortError']));
    expect(await call(page, 'capabilities')).toBe('resolved');
    // Every download the closed tab and the aborts left behind is dropped by the engine (sockets closed).
    await expect.poll(() => hanging.size, { timeout: 15_000 }).toBe(0);
  });

  it('refuses a request whose bytes would pass the per-origin bytes-in-flight limit', async () => {
    const limits = await worker.evaluate(() => {
      const l = (globalThis as any).webqRouterLimits;
      const before = { ...l };
      l.bytesInFlightPerOrigin = 3 * 1024 * 1024;
      // The page's requests go straight to the engine host under the limits of its grant: end the grants, so the
      // next request passes the router again and brings the new limits (shared/direct.ts).
      (globalThis as any).webqRevokeGrants();
      return before;
    });
    expect(limits).toEqual({ requestsInFlightPerOrigin: 64, bytesInFlightPerOrigin: 256 * 1024 * 1024 });
    try {
      const r = await page.evaluate(async (u) => {
        const webq = (window as any).webq;
        const controllers: AbortController[] = [];
        const run = (mib: number) => {
          const c = new AbortController();
          controllers.push(c);
          const n = (mib * 1024 * 1024) / 4;
          return Promise.race([
            webq.run(u, { x: { type: 'float32', data: new Float32Array(n), dims: [n] } }, { signal: c.signal }).then(
              () => 'resolved',
              (e: Error) => `${e.name}: ${e.message}`,
            ),
            new Promise((r) => setTimeout(() => r('in flight'), 1500)),
          ]);
        };
        const first = await run(1);
        const second = await run(1);
        const third = await run(2);
        const small = await run(0.5);
        for (const c of controllers) c.abort();
        await new Promise((r) => setTimeout(r, 300));
        const afterAbort = await run(2);
        for (const c of controllers) c.abort();
        return { first, second, third, small, afterAbort };
      }, `${server.origin}/hang/model.onnx?bytes`);
      expect(r.first).toBe('in flight');
      expect(r.second).toBe('in flight');
      expect(r.third).toMatch(/^QuotaExceededError: .*bytes of webq requests in flight/);
      expect(r.small).toBe('in flight');
      expect(r.afterAbort).toBe('in flight');
    } finally {
      await worker.evaluate((l) => {
        Object.assign((globalThis as any).webqRouterLimits, l);
        (globalThis as any).webqRevokeGrants();
      }, limits);
    }
  });
});
