/**
 * The page-API tests every browser passes: real pretrained models against onnxruntime-node, every tensor type
 * across every hop, aborts, errors, progress, and malformed calls. A browser's test file launches the browser with
 * the extension, opens a consented page, and hands it to `webqSuite`; page-host-suites.test.ts hands it a page
 * without the extension whose `window.webq` is @webq/client's in-page engine (`host: 'page'`).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ctcDecode, MODELS, ocrInput, referenceRun, referenceVad, speech16k } from '../../tools/fixtures';
import { identityModel, staticConvModel } from '../support/onnx-models';
import { slowRoute, type TestServer } from '../../tools/server';
import type { TensorType } from '../../extension/shared/tensor';
import { maxAbsDiff } from '../../extension/shared/compare';

/** The part of a Playwright or Puppeteer page the suite needs. */
export interface PageLike {
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
}

export interface SuiteContext {
  page: PageLike;
  server: TestServer;
  browser: 'chrome' | 'firefox';
  /**
   * What serves the page's `window.webq`: the extension (its content scripts, bridge and engine host), or
   * @webq/client's in-page engine (`window.webq = client` in a page without the extension). The few checks of the
   * extension's own machinery branch on it, each saying why.
   */
  host: 'extension' | 'page';
}

const TYPES: TensorType[] = ['float32', 'float16', 'int64', 'int32', 'int8', 'uint8', 'bool'];

export function addModelRoutes(server: TestServer): void {
  server.routes.set('/models/silero_vad.onnx', MODELS.sileroVad);
  server.routes.set('/models/ppocr_rec.onnx', MODELS.ppocrRec);
  for (const t of TYPES) server.routes.set(`/models/identity_${t}.onnx`, identityModel(t));
  server.routes.set('/models/static_conv.onnx', staticConvModel());
  server.routes.set('/models/slow_vad.onnx', slowRoute(readFileSync(MODELS.sileroVad), 128 * 1024, 150));
  server.routes.set('/models/not_onnx.onnx', new TextEncoder().encode('this is not an ONNX model'));
}

/** Runs Silero VAD frame by frame in the page (state carried), returning each frame's speech probability. */
function vadInPage(page: PageLike, url: string, audio: number[], backend: string) {
  return page.evaluate(
    async ({ url, audio, backend }) => {
      const webq = (window as any).webq;
      let state = new Float32Array(256);
      const probabilities: number[] = [];
      let metrics: any;
      for (let i = 0; i + 512 <= audio.length; i += 512) {
        const res = await webq.run(
          url,
          {
            input: { type: 'float32', data: Float32Array.from(audio.slice(i, i + 512)), dims: [1, 512] },
            state: { type: 'float32', data: state, dims: [2, 1, 128] },
            sr: { type: 'int64', data: new BigInt64Array([16000n]), dims: [] },
          },
          { backend },
        );
        probabilities.push(res.output.output.data[0]);
        state = res.output.stateN.data;
        metrics ??= res.performanceMetrics;
      }
      return { probabilities, metrics };
    },
    { url, audio, backend },
  );
}

export function webqSuite(ctx: () => SuiteContext): void {
  const url = (path: string) => `${ctx().server.origin}${path}`;

  describe('capabilities', () => {
    it('reports the browser, the WebGPU adapter, WebNN and wasm', async () => {
      const caps: any = await ctx().page.evaluate(() => (window as any).webq.capabilities(), null);
      expect(caps.browser.name).toBe(ctx().browser);
      expect(caps.webgpu.available).toBe(true);
      expect(caps.webgpu.adapter.emulated).toBe(true); // SwiftShader / lavapipe on this machine
      expect(caps.webgpu.limits.maxBufferSize).toBeGreaterThan(0);
      expect(Array.isArray(caps.webgpu.features)).toBe(true);
      expect(caps.webnn.available).toBe(false);
      expect(caps.webnn.reason).toMatch(/\S/);
      // Chrome's offscreen document is cross-origin isolated (manifest COOP/COEP): every core. Firefox ignores those
      // keys for its background page, so ORT runs one thread and webq says so.
      const cores = await ctx().page.evaluate(() => navigator.hardwareConcurrency, null);
      if (ctx().host === 'extension')
        expect(caps.wasm).toEqual({ threads: ctx().browser === 'chrome' ? Math.min(cores, 16) : 1, simd: true });
      else {
        // The in-page engine has the page's isolation, not the extension's: the test server sends no COOP/COEP, so
        // ORT runs one thread, and webq says so.
        expect(await ctx().page.evaluate(() => globalThis.crossOriginIsolated, null)).toBe(false);
        expect(caps.wasm).toEqual({ threads: 1, simd: true });
      }
      expect(caps.profile.backendOrder.at(-1)).toBe('webgpu'); // emulated GPU: WebGPU last for auto
    });
  });

  describe('real pretrained models against onnxruntime-node', () => {
    let audio: Float32Array;
    let reference: number[];
    const FRAMES = 40; // 1.3 s of speech onset: silence then voice
    beforeAll(async () => {
      const all = speech16k();
      audio = all.slice(16000 * 0.5 - 512 * 10, 16000 * 0.5 - 512 * 10 + 512 * FRAMES);
      reference = await referenceVad(audio);
    });

    for (const [backend, tolerance] of [
      ['wasm', 1e-4],
      ['webgpu', 2e-3],
    ] as const) {
      it(`Silero VAD on ${backend} matches onnxruntime-node within ${tolerance} per frame`, async () => {
        const { probabilities, metrics } = await vadInPage(
          ctx().page,
          url('/models/silero_vad.onnx'),
          Array.from(audio),
          backend,
        );
        expect(probabilities).toHaveLength(reference.length);
        const worst = maxAbsDiff(probabilities, reference);
        expect(worst).toBeLessThan(tolerance);
        // speech and silence
        expect(probabilities.some((p) => p > 0.5) && probabilities.some((p) => p < 0.1)).toBe(true);
        expect(metrics.backend).toBe(backend);
        expect(metrics.quantizationBits).toBe(32);
        expect(metrics.modelBytes).toBeGreaterThan(1_000_000);
        expect(metrics.memoryReductionPercent).toBeCloseTo(100 * (1 - metrics.modelBytes / metrics.originalBytes), 10);
        expect(metrics.inferenceTimeMs).toBeGreaterThanOrEqual(0);
        expect(metrics.totalTimeMs).toBeGreaterThanOrEqual(metrics.inferenceTimeMs);
      });
    }

    for (const [backend, tolerance] of [
      ['wasm', 1e-4],
      ['webgpu', 5e-3],
    ] as const) {
      it(`PP-OCRv4 rec on ${backend} reads "Hello World 2024" like onnxruntime-node (logits within ${tolerance})`, async () => {
        const input = ocrInput('Hello World 2024');
        const ref = (
          await referenceRun(MODELS.ppocrRec, { x: { type: 'float32', data: input.data, dims: input.dims } })
        )['softmax_11.tmp_0']!;
        const out = await ctx().page.evaluate(
          async ({ url, data, dims, backend }) => {
            const res = await (window as any).webq.run(
              url,
              { x: { type: 'float32', data: Float32Array.from(data), dims } },
              { backend },
            );
            const y = res.output['softmax_11.tmp_0'];
            return { data: Array.from(y.data as Float32Array), dims: y.dims, backend: res.performanceMetrics.backend };
          },
          { url: url('/models/ppocr_rec.onnx'), data: Array.from(input.data), dims: input.dims, backend },
        );
        expect(out.backend).toBe(backend);
        expect(out.dims).toEqual(ref.dims);
        const worst = maxAbsDiff(out.data, ref.data);
        expect(worst).toBeLessThan(tolerance);
        expect(ctcDecode(Float32Array.from(out.data), out.dims)).toBe('Hello World 2024');
      });
    }
  });

  describe('load-time quantization (SPEC §2, §7)', () => {
    const ocr = () => ocrInput('Hello World 2024');
    const readText = (options: Record<string, unknown>) =>
      ctx().page.evaluate(
        async ({ u, data, dims, options }) => {
          const webq = (window as any).webq;
          const info = await webq.load(u, options);
          const res = await webq.run(u, { x: { type: 'float32', data: Float32Array.from(data), dims } }, options);
          const y = res.output['softmax_11.tmp_0'];
          return {
            info,
            metrics: res.performanceMetrics,
            logits: Array.from(y.data as Float32Array),
            dims: y.dims as number[],
          };
        },
        { u: url('/models/ppocr_rec.onnx'), data: Array.from(ocr().data), dims: ocr().dims, options },
      );

    for (const [bits, mixedPrecision, scheme] of [
      [8, false, 'symmetric'],
      [4, true, 'symmetric'],
      [4, false, 'asymmetric'],
    ] as const) {
      it(`PP-OCRv4 at ${bits} bits ${scheme}${mixedPrecision ? ' (mixed precision)' : ''} on wasm still reads "Hello World 2024", with real byte counts`, async () => {
        const r = await readText({ backend: 'wasm', bits, scheme, groupSize: 32, mixedPrecision });
        expect(ctcDecode(Float32Array.from(r.logits), r.dims)).toBe('Hello World 2024');
        expect(r.info).toMatchObject({ bits, scheme, groupSize: 32, mixedPrecision, backend: 'wasm' });
        const weightsAt = (p: number) => r.info.weights.filter((w: any) => w.precision === p).length;
        expect(weightsAt(bits)).toBeGreaterThan(0);
        expect(r.info.weights.some((w: any) => w.op === 'MatMulNBits')).toBe(true);
        expect(r.metrics).toMatchObject({
          quantizationBits: bits,
          quantizationScheme: scheme,
          mixedPrecision,
          modelBytes: r.info.modelBytes,
          originalBytes: r.info.originalBytes,
        });
        expect(r.metrics.modelBytes).toBeLessThan(r.metrics.originalBytes * 0.3); // Conv weights stay at 8 bits
        // Its large MatMuls (the 120 × 6625 CTC head) run in wasm's integer form, named in fallbacks.
        expect(r.metrics.fallbacks.join('\n')).toMatch(
          /^wasm: int8 weights and activations for [1-9]\d* of \d+ quantized MatMuls/m,
        );
        expect(r.metrics.memoryReductionPercent).toBeCloseTo(
          100 * (1 - r.metrics.modelBytes / r.metrics.originalBytes),
          8,
        );
      });
    }

    it('{ bits: 4, scheme: symmetric, groupSize: 128, mixedPrecision: true } on WebGPU: downloads once, quantizes, caches, reads the text; a reload loads from the cache', async () => {
      const path = `/models/done_when_${ctx().browser}.onnx`;
      ctx().server.routes.set(path, MODELS.ppocrRec);
      const options = { backend: 'webgpu', bits: 4, scheme: 'symmetric', groupSize: 128, mixedPrecision: true };
      const input = ocr();
      const runOnce = () =>
        ctx().page.evaluate(
          async ({ u, data, dims, options }) => {
            const webq = (window as any).webq;
            const phases = new Set<string>();
            const res = await webq.run(
              u,
              { x: { type: 'float32', data: Float32Array.from(data), dims } },
              { ...options, onProgress: (p: any) => phases.add(p.phase) },
            );
            await webq.unload(u); // as if the page were reloaded: the next call must load again
            const y = res.output['softmax_11.tmp_0'];
            return {
              phases: [...phases].sort(),
              metrics: res.performanceMetrics,
              logits: Array.from(y.data as Float32Array),
              dims: y.dims as number[],
            };
          },
          { u: url(path), data: Array.from(input.data), dims: input.dims, options },
        );
      const first = await runOnce();
      expect(first.phases).toEqual(['compile', 'download', 'quantize']);
      expect(ctcDecode(Float32Array.from(first.logits), first.dims)).toBe('Hello World 2024');
      expect(first.metrics).toMatchObject({
        backend: 'webgpu',
        quantizationBits: 4,
        quantizationScheme: 'symmetric',
        mixedPrecision: true,
      });
      expect(first.metrics.memoryReductionPercent).toBeGreaterThan(70);
      // The reload is a load, not a run: a PP-OCR run on the emulated GPUs here costs 10–30 s, nearly all of it
      // onnxruntime compiling its shaders. That a cached quantized variant still reads the text is checked on wasm
      // ('model cache' below).
      const reload = await ctx().page.evaluate(
        async ({ u, options }) => {
          const webq = (window as any).webq;
          const phases = new Set<string>();
          const info = await webq.load(u, { ...options, onProgress: (p: any) => phases.add(p.phase) });
          await webq.unload(u);
          return { phases: [...phases].sort(), info };
        },
        { u: url(path), options },
      );
      expect(reload.phases).toEqual(['cache', 'compile']);
      expect(reload.info).toMatchObject({ backend: 'webgpu', bits: 4, modelBytes: first.metrics.modelBytes });
      expect(ctx().server.hits.get(path)).toBe(1);
    });

    it('16 bits: reports the fp32 bytes onnxruntime really holds, and says why', async () => {
      const r = await readText({ backend: 'wasm', bits: 16 });
      expect(ctcDecode(Float32Array.from(r.logits), r.dims)).toBe('Hello World 2024');
      expect(r.info.fallbacks.join(' ')).toMatch(/16-bit: onnxruntime folds fp16 weights back to fp32/);
      expect(r.metrics.quantizationBits).toBe(16);
      expect(r.info.weights.every((w: any) => w.precision === 32 || w.precision === 8)).toBe(true);
    });

    it('refuses quantization options that would have no effect', async () => {
      const r = await ctx().page.evaluate(async (u) => {
        const webq = (window as any).webq;
        const name = (p: Promise<unknown>) =>
          p.then(
            () => 'resolved',
            (e: Error) => `${e.name}: ${e.message}`,
          );
        return [
          await name(webq.load(u, { scheme: 'asymmetric' })),
          await name(webq.load(u, { bits: 4, attentionPrecision: 8 })),
          await name(webq.load(u, { bits: 32, mixedPrecision: true })),
        ];
      }, url('/models/ppocr_rec.onnx'));
      expect(r[0]).toMatch(/^DataError: option scheme applies when weights are quantized/);
      expect(r[1]).toMatch(/^DataError: option attentionPrecision applies under mixed precision/);
      expect(r[2]).toMatch(/^DataError: option mixedPrecision applies when weights are quantized/);
    });
  });

  describe('model cache (IndexedDB)', () => {
    it('a second load of a variant never touches the network, even with the file gone', async () => {
      const path = `/models/cached_${ctx().browser}.onnx`;
      ctx().server.routes.set(path, MODELS.ppocrRec);
      const load = (options: Record<string, unknown>) =>
        ctx().page.evaluate(
          async ({ u, options }) => {
            const webq = (window as any).webq;
            const phases = new Set<string>();
            const info = await webq.load(u, { ...options, onProgress: (p: any) => phases.add(p.phase) });
            await webq.unload(u); // drop it from memory: the next load must come from the cache
            return { phases: [...phases].sort(), bytes: info.modelBytes, bits: info.bits, fallbacks: info.fallbacks };
          },
          { u: url(path), options },
        );
      const first = await load({ backend: 'wasm', bits: 8 });
      expect(first.phases).toEqual(['compile', 'download', 'quantize']);
      expect(ctx().server.hits.get(path)).toBe(1);
      const again = await load({ backend: 'wasm', bits: 8 });
      expect(again.phases).toEqual(['cache', 'compile']); // the quantized variant itself: no download, no quantization
      expect(again.bytes).toBe(first.bytes);
      const other = await load({ backend: 'wasm', bits: 4 });
      expect(other.phases).toEqual(['cache', 'compile', 'quantize']); // source from the cache, quantized anew
      ctx().server.routes.delete(path);
      const offline = await load({ backend: 'wasm', bits: 8 });
      expect(offline.bits).toBe(8);
      // The cached variant is the model: with the file gone it still reads the text.
      const input = ocrInput('Hello World 2024');
      const cached = await ctx().page.evaluate(
        async ({ u, data, dims }) => {
          const res = await (window as any).webq.run(
            u,
            { x: { type: 'float32', data: Float32Array.from(data), dims } },
            { backend: 'wasm', bits: 8 },
          );
          const y = res.output['softmax_11.tmp_0'];
          return {
            bits: res.performanceMetrics.quantizationBits,
            logits: Array.from(y.data as Float32Array),
            dims: y.dims,
          };
        },
        { u: url(path), data: Array.from(input.data), dims: input.dims },
      );
      expect(cached.bits).toBe(8);
      expect(ctcDecode(Float32Array.from(cached.logits), cached.dims as number[])).toBe('Hello World 2024');
      const raw = await load({ backend: 'wasm' });
      expect(raw.bits).toBe(32);
      expect(ctx().server.hits.get(path)).toBe(1);
      // Where the cache is: the page origin's own IndexedDB for the in-page engine; never the page's for the
      // extension, whose cache lives in its own origin (shared by every site; chromium.test.ts reads it there).
      const pageCache = await ctx().page.evaluate(async (u) => {
        const names = (await indexedDB.databases()).map((d) => d.name);
        if (!names.includes('webq-models')) return null; // (opening it would create it)
        const db: IDBDatabase = await new Promise((resolve, reject) => {
          const r = indexedDB.open('webq-models');
          r.onsuccess = () => resolve(r.result);
          r.onerror = () => reject(r.error);
        });
        const entries: { source: string; variant: string }[] = await new Promise((resolve, reject) => {
          const r = db.transaction('entries').objectStore('entries').getAll();
          r.onsuccess = () => resolve(r.result);
          r.onerror = () => reject(r.error);
        });
        db.close();
        return entries.filter((e) => e.source === u).map((e) => e.variant);
      }, url(path));
      if (ctx().host === 'extension') expect(pageCache).toBeNull();
      else expect(pageCache?.length).toBeGreaterThanOrEqual(3); // the source and its 8- and 4-bit variants
    });
  });

  describe('binary tensors cross every hop intact', () => {
    it('every tensor type round-trips bit-exact through an Identity model', async () => {
      const results = await ctx().page.evaluate(async (base) => {
        const samples: Record<string, () => ArrayBufferView> = {
          float32: () => new Float32Array([0, -0, 1.5, -3.25, NaN, Infinity, -Infinity, 3.4e38, 1e-45]),
          float16: () => new Uint16Array([0x0000, 0x8000, 0x3c00, 0x7c00, 0xfc00, 0x7e00, 0x0001, 0x7bff]),
          int64: () => new BigInt64Array([0n, -1n, 9223372036854775807n, -9223372036854775808n, 12345678901234n]),
          int32: () => new Int32Array([0, -1, 2147483647, -2147483648]),
          int8: () => new Int8Array([0, -128, 127, -1]),
          uint8: () => new Uint8Array([0, 255, 128, 1]),
          bool: () => new Uint8Array([1, 0, 1, 1, 0]),
        };
        const out: Record<string, { same: boolean; ctor: string; type: string }> = {};
        for (const [type, make] of Object.entries(samples)) {
          const data = make() as any;
          const res = await (window as any).webq.run(
            `${base}/models/identity_${type}.onnx`,
            { x: { type, data, dims: [data.length] } },
            { backend: 'wasm' },
          );
          const y = res.output.y;
          const a = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
          const b = new Uint8Array(y.data.buffer, y.data.byteOffset, y.data.byteLength);
          out[type] = {
            same: a.length === b.length && a.every((v, i) => v === b[i]),
            ctor: y.data.constructor.name,
            type: y.type,
          };
        }
        return out;
      }, ctx().server.origin);
      for (const t of TYPES) {
        expect(results[t], t).toEqual({
          same: true,
          type: t,
          ctor: (
            {
              float32: 'Float32Array',
              float16: 'Uint16Array',
              int64: 'BigInt64Array',
              int32: 'Int32Array',
              int8: 'Int8Array',
              uint8: 'Uint8Array',
              bool: 'Uint8Array',
            } as const
          )[t],
        });
      }
    });

    it('accepts number[] data and converts it page-side (int64 from numbers, float16 from numbers)', async () => {
      const r = await ctx().page.evaluate(async (base) => {
        const webq = (window as any).webq;
        const a = await webq.run(
          `${base}/models/identity_int64.onnx`,
          { x: { type: 'int64', data: [1, -2, 3], dims: [3] } },
          { backend: 'wasm' },
        );
        const h = await webq.run(
          `${base}/models/identity_float16.onnx`,
          { x: { type: 'float16', data: [1, -2, 0.5], dims: [3] } },
          { backend: 'wasm' },
        );
        return {
          ints: Array.from(a.output.y.data as BigInt64Array, String),
          halves: Array.from(h.output.y.data as Uint16Array),
        };
      }, ctx().server.origin);
      expect(r).toEqual({ ints: ['1', '-2', '3'], halves: [0x3c00, 0xc000, 0x3800] });
    });

    it('carries a 64 MiB tensor both ways and refuses one byte more with QuotaExceededError', async () => {
      const r = await ctx().page.evaluate(async (base) => {
        const webq = (window as any).webq;
        const n = 16 * 1024 * 1024; // 64 MiB of float32
        const data = new Float32Array(n);
        for (let i = 0; i < n; i += 4099) data[i] = i;
        const res = await webq.run(
          `${base}/models/identity_float32.onnx`,
          { x: { type: 'float32', data, dims: [n] } },
          { backend: 'wasm' },
        );
        const y = res.output.y.data as Float32Array;
        let same = y.length === n;
        for (let i = 0; i < n && same; i += 4099) same = y[i] === i;
        const over = await webq
          .run(
            `${base}/models/identity_uint8.onnx`,
            { x: { type: 'uint8', data: new Uint8Array(64 * 1024 * 1024 + 1), dims: [64 * 1024 * 1024 + 1] } },
            { backend: 'wasm' },
          )
          .then(
            () => 'resolved',
            (e: Error) => e.name,
          );
        return { same, over, hopsMs: res.performanceMetrics.totalTimeMs - res.performanceMetrics.inferenceTimeMs };
      }, ctx().server.origin);
      expect(r.same).toBe(true);
      expect(r.over).toBe('QuotaExceededError');
      console.log(
        `[${ctx().browser}] 64 MiB float32 through the hops and back: ${r.hopsMs.toFixed(0)} ms outside inference`,
      );
    });
  });

  describe('abort, progress and errors', () => {
    it('an already-aborted signal rejects with AbortError before any work', async () => {
      const name = await ctx().page.evaluate(async (u) => {
        const c = new AbortController();
        c.abort();
        return (window as any).webq.load(u, { signal: c.signal }).then(
          () => 'resolved',
          (e: Error) => e.name,
        );
      }, url('/models/silero_vad.onnx'));
      expect(name).toBe('AbortError');
    });

    it('aborting a download rejects at once, never resolves later, and the next request is served', async () => {
      const r = await ctx().page.evaluate(
        async ({ slow, good }) => {
          const webq = (window as any).webq;
          const c = new AbortController();
          const events: string[] = [];
          let settled = 0;
          const p = webq
            .load(slow, {
              signal: c.signal,
              onProgress: (e: any) => {
                events.push(e.phase);
                if (events.length === 2) c.abort();
              },
            })
            .then(
              () => {
                settled++;
                return 'resolved';
              },
              (e: Error) => {
                settled++;
                return e.name;
              },
            );
          const name = await p;
          await new Promise((res) => setTimeout(res, 3000)); // the download would have finished by now
          const next = await webq.load(good).then(
            (info: any) => info.backend,
            (e: Error) => e.name,
          );
          return { name, settled, events: events.length, next };
        },
        { slow: url('/models/slow_vad.onnx'), good: url('/models/silero_vad.onnx') },
      );
      expect(r.name).toBe('AbortError');
      expect(r.settled).toBe(1);
      expect(r.events).toBeGreaterThanOrEqual(2);
      expect(['wasm', 'webgpu', 'webnn']).toContain(r.next);
    });

    it('reports download progress tied to its request, ending at loaded = total', async () => {
      const events = await ctx().page.evaluate(
        async (u) => {
          const seen: { phase: string; loaded: number; total: number }[] = [];
          await (window as any).webq.load(u, { backend: 'wasm', onProgress: (p: any) => seen.push(p) });
          return seen;
        },
        `${url('/models/slow_vad.onnx')}?progress`,
      );
      const downloads = events.filter((e) => e.phase === 'download');
      expect(downloads.length).toBeGreaterThan(3);
      const last = downloads.at(-1)!;
      expect(last.loaded).toBe(last.total);
      expect(last.total).toBe(readFileSync(MODELS.sileroVad).byteLength);
      expect(downloads.every((e, i) => i === 0 || e.loaded >= downloads[i - 1]!.loaded)).toBe(true);
      expect(events.some((e) => e.phase === 'compile')).toBe(true);
    });

    it('names the error: 404 → NotFoundError, not ONNX → DataError, forbidden URL → NotAllowedError, webnn absent → NotSupportedError', async () => {
      const r = await ctx().page.evaluate(async (base) => {
        const webq = (window as any).webq;
        const name = (p: Promise<unknown>) =>
          p.then(
            () => 'resolved',
            (e: Error) => `${e.name}: ${e.message}`,
          );
        return {
          missing: await name(webq.load(`${base}/models/missing.onnx`)),
          notOnnx: await name(webq.load(`${base}/models/not_onnx.onnx`)),
          http: await name(webq.load('http://example.com/model.onnx')),
          file: await name(webq.load('file:///etc/passwd')),
          unknownId: await name(webq.load('no-such-model')),
          webnn: await name(webq.load(`${base}/models/silero_vad.onnx`, { backend: 'webnn' })),
          wgUnquantized: await name(webq.load(`${base}/models/silero_vad.onnx`, { workgroupSize: [64, 1, 1] })),
        };
      }, ctx().server.origin);
      expect(r.missing).toMatch(/^NotFoundError: .*404/);
      expect(r.notOnnx).toMatch(/^DataError: .*ONNX/);
      expect(r.http).toMatch(/^NotAllowedError: /);
      expect(r.file).toMatch(/^NotAllowedError: /);
      expect(r.unknownId).toMatch(/^NotFoundError: .*no-such-model/);
      expect(r.webnn).toMatch(/^NotSupportedError: .*webnn/);
      expect(r.wgUnquantized).toMatch(/^DataError: option workgroupSize applies when weights are quantized/);
    });
  });

  describe('requests in parallel', () => {
    it('eight concurrent runs on one model each get their own result', async () => {
      const inputs = Array.from({ length: 8 }, (_, k) =>
        Array.from({ length: 512 }, (_, i) => Math.sin((i * (k + 1)) / 7) * 0.5),
      );
      const refs = await Promise.all(
        inputs.map((x) =>
          referenceRun(MODELS.sileroVad, {
            input: { type: 'float32', data: Float32Array.from(x), dims: [1, 512] },
            state: { type: 'float32', data: new Float32Array(256), dims: [2, 1, 128] },
            sr: { type: 'int64', data: new BigInt64Array([16000n]), dims: [] },
          }),
        ),
      );
      const got = await ctx().page.evaluate(
        async ({ u, inputs }) =>
          Promise.all(
            inputs.map(async (x) => {
              const res = await (window as any).webq.run(
                u,
                {
                  input: { type: 'float32', data: Float32Array.from(x), dims: [1, 512] },
                  state: { type: 'float32', data: new Float32Array(256), dims: [2, 1, 128] },
                  sr: { type: 'int64', data: new BigInt64Array([16000n]), dims: [] },
                },
                { backend: 'wasm' },
              );
              return Array.from(res.output.stateN.data as Float32Array).slice(0, 16);
            }),
          ),
        { u: url('/models/silero_vad.onnx'), inputs },
      );
      got.forEach((g, k) => {
        const ref = Array.from(refs[k]!.stateN!.data).slice(0, 16);
        g.forEach((v, i) => expect(Math.abs(v - ref[i]!)).toBeLessThan(1e-4));
      });
    });
  });

  describe('bad input', () => {
    it('rejects 30+ malformed calls with a named error and keeps serving', async () => {
      const r = await ctx().page.evaluate(async (base) => {
        const webq = (window as any).webq;
        const vad = `${base}/models/silero_vad.onnx`;
        const good = () => ({
          input: { type: 'float32', data: new Float32Array(512), dims: [1, 512] },
          state: { type: 'float32', data: new Float32Array(256), dims: [2, 1, 128] },
          sr: { type: 'int64', data: new BigInt64Array([16000n]), dims: [] },
        });
        const withInput = (patch: Record<string, unknown>) => ({ ...good(), ...patch });
        const cases: [string, string, () => Promise<unknown>][] = [
          ['model missing', 'DataError', () => webq.run(undefined, good())],
          ['model a number', 'DataError', () => webq.run(42, good())],
          ['model empty string', 'DataError', () => webq.run('', good())],
          ['model url too long', 'DataError', () => webq.run(`https://x.test/${'a'.repeat(3000)}`, good())],
          ['model source without url', 'DataError', () => webq.run({ sha256: 'ab' }, good())],
          ['model source bad sha256', 'DataError', () => webq.run({ url: vad, sha256: 'xyz' }, good())],
          ['model source unknown field', 'DataError', () => webq.run({ url: vad, evil: 1 }, good())],
          ['model source bad task', 'DataError', () => webq.run({ url: vad, task: 'mining' }, good())],
          ['model javascript: url', 'NotAllowedError', () => webq.run('javascript:alert(1)', good())],
          ['model data: url', 'NotAllowedError', () => webq.run('data:application/octet-stream;base64,AAAA', good())],
          ['model http non-local url', 'NotAllowedError', () => webq.run('http://10.0.0.1/m.onnx', good())],
          [
            'model url with credentials',
            'NotAllowedError',
            () => webq.run('https://user:pw@example.com/m.onnx', good()),
          ],
          ['sha256 mismatch', 'DataError', () => webq.run({ url: vad, sha256: '0'.repeat(64) }, good())],
          ['input null', 'DataError', () => webq.run(vad, null)],
          ['input a number', 'DataError', () => webq.run(vad, 7)],
          ['input empty object', 'DataError', () => webq.run(vad, {})],
          ['tensor not an object', 'DataError', () => webq.run(vad, withInput({ input: 5 }))],
          [
            'tensor unknown type',
            'DataError',
            () => webq.run(vad, withInput({ input: { type: 'float64', data: new Float64Array(512), dims: [1, 512] } })),
          ],
          [
            'dims not an array',
            'DataError',
            () => webq.run(vad, withInput({ input: { type: 'float32', data: new Float32Array(512), dims: '1,512' } })),
          ],
          [
            'negative dim',
            'DataError',
            () =>
              webq.run(vad, withInput({ input: { type: 'float32', data: new Float32Array(512), dims: [-1, 512] } })),
          ],
          [
            'fractional dim',
            'DataError',
            () =>
              webq.run(vad, withInput({ input: { type: 'float32', data: new Float32Array(512), dims: [1.5, 512] } })),
          ],
          [
            'NaN dim',
            'DataError',
            () =>
              webq.run(vad, withInput({ input: { type: 'float32', data: new Float32Array(512), dims: [NaN, 512] } })),
          ],
          [
            'huge dims',
            'DataError',
            () =>
              webq.run(
                vad,
                withInput({ input: { type: 'float32', data: new Float32Array(512), dims: [2 ** 40, 512] } }),
              ),
          ],
          [
            'rank 9',
            'DataError',
            () =>
              webq.run(
                vad,
                withInput({ input: { type: 'float32', data: new Float32Array(1), dims: [1, 1, 1, 1, 1, 1, 1, 1, 1] } }),
              ),
          ],
          [
            'dims × size ≠ bytes',
            'DataError',
            () => webq.run(vad, withInput({ input: { type: 'float32', data: new Float32Array(500), dims: [1, 512] } })),
          ],
          [
            'wrong typed array for type',
            'DataError',
            () => webq.run(vad, withInput({ input: { type: 'float32', data: new Int32Array(512), dims: [1, 512] } })),
          ],
          [
            'int64 as Float64Array',
            'DataError',
            () => webq.run(vad, withInput({ sr: { type: 'int64', data: new Float64Array([16000]), dims: [] } })),
          ],
          [
            'number[] wrong length',
            'DataError',
            () => webq.run(vad, withInput({ input: { type: 'float32', data: [1, 2, 3], dims: [1, 512] } })),
          ],
          [
            'number[] with a string',
            'DataError',
            () => webq.run(vad, withInput({ sr: { type: 'int64', data: ['16000'], dims: [1] } })),
          ],
          [
            'missing model input',
            'DataError',
            () => {
              const g: any = good();
              delete g.state;
              return webq.run(vad, g);
            },
          ],
          [
            'unknown model input',
            'DataError',
            () => webq.run(vad, withInput({ bogus: { type: 'float32', data: new Float32Array(1), dims: [1] } })),
          ],
          [
            'wrong input type for model',
            'DataError',
            () => webq.run(vad, withInput({ sr: { type: 'int32', data: new Int32Array([16000]), dims: [] } })),
          ],
          [
            'wrong rank for model',
            'DataError',
            () => webq.run(vad, withInput({ state: { type: 'float32', data: new Float32Array(256), dims: [256] } })),
          ],
          [
            'wrong static dim for model',
            'DataError',
            () =>
              webq.run(vad, withInput({ state: { type: 'float32', data: new Float32Array(256), dims: [1, 2, 128] } })),
          ],
          ['text for a raw model', 'DataError', () => webq.run(vad, 'hello')],
          ['options not an object', 'DataError', () => webq.run(vad, good(), 'fast')],
          ['unknown option', 'DataError', () => webq.run(vad, good(), { turbo: true })],
          ['bits out of range', 'DataError', () => webq.run(vad, good(), { bits: 3 })],
          ['scheme misspelt', 'DataError', () => webq.run(vad, good(), { scheme: 'symetric' })],
          ['groupSize not a power of two', 'DataError', () => webq.run(vad, good(), { groupSize: 100 })],
          ['backend unknown', 'DataError', () => webq.run(vad, good(), { backend: 'cuda' })],
          [
            'alias and name together',
            'DataError',
            () => webq.run(vad, good(), { mixedPrecision: true, mixed_precision: true }),
          ],
          ['workgroupSize too large', 'DataError', () => webq.run(vad, good(), { workgroupSize: [1024, 2, 1] })],
          ['topK on a raw model', 'DataError', () => webq.run(vad, good(), { topK: 5 })],
          ['run option on load', 'DataError', () => webq.load(vad, { topK: 5 })],
          [
            'devicePreference with wasm',
            'DataError',
            () => webq.run(vad, good(), { backend: 'wasm', devicePreference: 'npu' }),
          ],
          ['signal not an AbortSignal', 'DataError', () => webq.run(vad, good(), { signal: {} })],
          ['onProgress not a function', 'DataError', () => webq.run(vad, good(), { onProgress: 'yes' })],
          [
            'prototype pollution key',
            'DataError',
            () => webq.run(vad, good(), JSON.parse('{"__proto__": {"polluted": true}}')),
          ],
          ['contradicting options', 'DataError', () => webq.run(vad, good(), { useQuantization: false, bits: 4 })],
        ];
        const results: { label: string; expected: string; got: string; message: string }[] = [];
        for (const [label, expected, call] of cases) {
          try {
            await call();
            results.push({ label, expected, got: 'resolved', message: '' });
          } catch (e: any) {
            results.push({ label, expected, got: e?.name, message: e?.message });
          }
        }
        const after = await webq.run(vad, good(), { backend: 'wasm' }).then(
          (res: any) => res.output.output.dims,
          (e: Error) => e.name,
        );
        return { results, after, polluted: ({} as any).polluted ?? null };
      }, ctx().server.origin);
      expect(r.results.length).toBeGreaterThanOrEqual(30);
      for (const c of r.results) {
        expect(`${c.label}: ${c.got}`).toBe(`${c.label}: ${c.expected}`);
        expect(c.message.length, c.label).toBeGreaterThan(10);
      }
      expect(r.after).toEqual([1, 1]);
      expect(r.polluted).toBeNull();
    });

    it('capabilities and unload reject options they do not take with DataError naming them', async () => {
      const r = await ctx().page.evaluate(async (base) => {
        const webq = (window as any).webq;
        const vad = `${base}/models/silero_vad.onnx`;
        const named = (p: Promise<unknown>) =>
          p.then(
            () => 'resolved',
            (e: Error) => `${e.name}: ${e.message}`,
          );
        return {
          capsUnknown: await named(webq.capabilities({ turbo: true })),
          capsLoadOption: await named(webq.capabilities({ backend: 'wasm' })),
          capsNotObject: await named(webq.capabilities('all')),
          unloadUnknown: await named(webq.unload(vad, { everywhere: true })),
          unloadLoadOption: await named(webq.unload(vad, { bits: 4 })),
          capsSignal: await named(webq.capabilities({ signal: new AbortController().signal })),
          unloadSignal: await named(webq.unload(vad, { signal: new AbortController().signal })),
        };
      }, ctx().server.origin);
      expect(r.capsUnknown).toMatch(/^DataError: option "turbo" does not apply to capabilities\(\)/);
      expect(r.capsLoadOption).toMatch(/^DataError: option "backend" does not apply to capabilities\(\)/);
      expect(r.capsNotObject).toMatch(/^DataError: options must be an object/);
      expect(r.unloadUnknown).toMatch(/^DataError: option "everywhere" does not apply to unload\(\)/);
      expect(r.unloadLoadOption).toMatch(/^DataError: option "bits" does not apply to unload\(\)/);
      expect(r.capsSignal).toBe('resolved');
      expect(r.unloadSignal).toBe('resolved');
    });

    it("leaves the page's own window messages alone: their arrays arrive intact to the page's listeners", async () => {
      const lengths = await ctx().page.evaluate(async () => {
        const seen: number[] = [];
        const listener = (e: MessageEvent) => {
          if (e.data?.tag === 'not-webq') setTimeout(() => seen.push(e.data.data.length), 0); // read after the bridge
        };
        window.addEventListener('message', listener);
        const data = new Float32Array(1024);
        window.postMessage({ tag: 'not-webq', data }, '*', [data.buffer]);
        window.postMessage({ tag: 'not-webq', data: new Float32Array(8) }, '*');
        await new Promise((r) => setTimeout(r, 200));
        window.removeEventListener('message', listener);
        return seen;
      }, undefined);
      expect(lengths).toEqual([1024, 8]);
    });

    it('answers garbage posted straight to the bridge, and keeps serving', async () => {
      const r = await ctx().page.evaluate(async (u) => {
        const replies: any[] = [];
        const listener = (e: MessageEvent) => {
          if (e.data?.tag === 'webq:bridge' && e.data.message) replies.push(e.data.message);
        };
        window.addEventListener('message', listener);
        const junk: unknown[] = [
          { tag: 'webq:page', message: null },
          { tag: 'webq:page', message: { type: 'request', id: 'x1', method: 'eval', params: {} } },
          {
            tag: 'webq:page',
            message: {
              type: 'request',
              id: 'x2',
              method: 'run',
              params: {
                model: u,
                input: { kind: 'tensors', tensors: { a: { type: 'float32', dims: [4], data: new Float32Array(3) } } },
              },
            },
          },
          { tag: 'webq:page', message: { type: 'request', id: 'bad id with spaces', method: 'capabilities' } },
          {
            tag: 'webq:page',
            message: { type: 'request', id: 'x3', method: 'load', params: { model: u, options: { ['__proto__']: 1 } } },
          },
          {
            tag: 'webq:page',
            message: {
              type: 'request',
              id: 'x4',
              method: 'run',
              params: { model: u, input: { kind: 'audio', audio: new Float32Array(10), sampleRate: 5 } },
            },
          },
          {
            tag: 'webq:page',
            message: {
              type: 'request',
              id: 'x5',
              method: 'run',
              params: {
                model: u,
                input: { kind: 'image', images: [{ width: 2, height: 2, data: new Uint8ClampedArray(3) }] },
              },
            },
          },
          { tag: 'webq:page', message: { type: 'nonsense', id: 'x6' } },
          { tag: 'webq:page', message: { type: 'abort', id: 'never-sent' } },
          'a string',
          42,
          null,
        ];
        for (const j of junk) window.postMessage(j, '*');
        await new Promise((res) => setTimeout(res, 1500));
        window.removeEventListener('message', listener);
        const after = await (window as any).webq.capabilities().then(
          () => 'ok',
          (e: Error) => e.name,
        );
        return { replies: replies.map((m) => `${m.id}:${m.type}:${m.error?.name ?? ''}`).sort(), after };
      }, url('/models/silero_vad.onnx'));
      if (ctx().host === 'extension')
        expect(r.replies).toEqual([
          'x1:error:DataError',
          'x2:error:DataError',
          'x3:error:DataError',
          'x4:error:DataError',
          'x5:error:DataError',
          'x6:error:DataError',
        ]);
      // The in-page engine has no bridge: nothing listens to window messages, so posted garbage reaches no engine and
      // nothing answers it (its one hop validates what the client sends, checked by the malformed calls above).
      else expect(r.replies).toEqual([]);
      expect(r.after).toBe('ok');
    });
  });

  describe('model lifetime', () => {
    it('load reports the model; run after load has no loadTimeMs; unload then run loads again', async () => {
      const r = await ctx().page.evaluate(async (u) => {
        const webq = (window as any).webq;
        const feeds = () => ({ x: { type: 'int32', data: new Int32Array([1, 2]), dims: [2] } });
        const info = await webq.load(u, { backend: 'wasm' });
        const first = await webq.run(u, feeds(), { backend: 'wasm' });
        await webq.unload(u);
        const again = await webq.run(u, feeds(), { backend: 'wasm' });
        return {
          info,
          firstLoad: 'loadTimeMs' in first.performanceMetrics,
          againLoad: typeof again.performanceMetrics.loadTimeMs,
        };
      }, url('/models/identity_int32.onnx'));
      expect(r.info).toMatchObject({
        backend: 'wasm',
        bits: 32,
        task: null,
        inputs: [{ name: 'x', type: 'int32', dims: ['n'] }],
        outputs: [{ name: 'y', type: 'int32', dims: ['n'] }],
      });
      expect(r.firstLoad).toBe(false);
      expect(r.againLoad).toBe('number');
    });
  });
}
