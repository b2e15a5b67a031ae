/**
 * What streaming costs a page per token (issue 15: "each streamed token costs ≤ 1 ms of messaging on top of
 * decoding"): webq in Chromium with the built extension, the generated Llama (tools/hub-models) from a local
 * URL, greedy. Each round runs the same generation twice in the page, `webq.run` (one reply) and `webq.stream`
 * (deltas over offscreen document → service worker → content script → page), in alternating order; the cost per
 * token is the paired wall-time difference (stream − run) over the generated tokens, and, less noisy, the difference
 * of the time spent outside the engine's own pipeline (page wall time − performanceMetrics.inferenceTimeMs), which
 * leaves out the decode's own variation. Medians over the rounds.
 *
 * The engine batches deltas (host/delta-batcher.ts: at most one message per STREAM_INTERVAL_MS), so the report also
 * gives the messages per stream and each mode's decode rate. `--shape bench` runs the bench's Llama (4 layers × 256,
 * bench/models/generation.ts) instead of the e2e tests' tiny one, where the decode itself is the work; `--warmup`
 * rounds of both modes come first (V8 tiers onnxruntime's wasm up for the first few seconds of decoding).
 *
 *   npm run build && npx tsx bench/generation-messaging.ts [--rounds 9] [--tokens 64] [--backend wasm|webgpu]
 *     [--shape test|bench] [--warmup 2]
 */
import { register } from 'node:module';
import { parseArgs } from 'node:util';
import { launchChromium, openWithConsent } from '../tools/browsers';
import { mirrorRepo } from '../tools/hub-mirror';
import { BLANK_PAGE, startServer } from '../tools/server';

// The generated hub models import onnx-proto by name, which Node's ESM loader needs a shim for (as bench/run.ts).
register('./lib/esm-hooks.mjs', import.meta.url);
const { llamaHubFiles } = await import('../tools/hub-models/llama');
const { BENCH_SHAPE } = await import('./models/generation');

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '9' },
    tokens: { type: 'string', default: '64' },
    backend: { type: 'string', default: 'wasm' },
    shape: { type: 'string', default: 'test' },
    warmup: { type: 'string', default: '2' },
  },
});
if (values.shape !== 'test' && values.shape !== 'bench') throw new Error('--shape is test or bench');
const shape = values.shape === 'bench' ? BENCH_SHAPE : {};
const warmup = Number(values.warmup);
const rounds = Number(values.rounds);
const tokens = Number(values.tokens);
const backend = values.backend!;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const REPO = 'onnx-community/Llama-3.2-1B-Instruct';
const server = await startServer({ '/page.html': BLANK_PAGE() });
mirrorRepo(server, '/hub', REPO, llamaHubFiles({ spec: shape }));
const chromium = await launchChromium();
try {
  const page = await openWithConsent(chromium.context, `${server.origin}/page.html`);
  // tsx (esbuild keepNames) wraps named functions in __name(), which the page does not have.
  await page.evaluate('globalThis.__name = (f) => f');
  const model = { url: `${server.origin}/hub/${REPO}/resolve/main/onnx/model.onnx`, task: 'text-generation' };
  const r = await page.evaluate(
    async ({ model, rounds, tokens, backend, warmup }) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the page API, untyped in the page
      const webq = (window as any).webq;
      const options = { backend, maxNewTokens: tokens };
      const prompt = 'Once upon a time';
      const viaRun = async () => {
        const t = performance.now();
        const res = await webq.run(model, prompt, options);
        return { wall: performance.now() - t, engine: res.performanceMetrics.inferenceTimeMs, res };
      };
      const viaStream = async () => {
        const t = performance.now();
        const s = webq.stream(model, prompt, options);
        const reader = s.getReader();
        let chunks = 0;
        for (;;) {
          const { done } = await reader.read();
          if (done) break;
          chunks++;
        }
        const res = await s.result;
        return { wall: performance.now() - t, engine: res.performanceMetrics.inferenceTimeMs, res, chunks };
      };
      for (let i = 0; i < warmup; i++) {
        await viaRun(); // load, compile, warm
        await viaStream();
      }
      const out = [];
      for (let i = 0; i < rounds; i++) {
        const first = i % 2 === 0;
        const a = first ? await viaRun() : null;
        const s = await viaStream();
        const b = first ? null : await viaRun();
        const run = (a ?? b)!;
        out.push({
          tokens: s.res.output.tokens.length,
          runTokens: run.res.output.tokens.length,
          chunks: s.chunks,
          runWall: run.wall,
          runEngine: run.engine,
          streamWall: s.wall,
          streamEngine: s.engine,
          decodeTps: s.res.performanceMetrics.decodeTokensPerSecond,
          runDecodeTps: run.res.performanceMetrics.decodeTokensPerSecond,
          backend: s.res.performanceMetrics.backend,
        });
      }
      return out;
    },
    { model, rounds, tokens, backend, warmup },
  );
  for (const x of r)
    if (x.tokens !== x.runTokens) throw new Error(`stream gave ${x.tokens} tokens, run ${x.runTokens}: not comparable`);
  const n = r[0]!.tokens;
  const perTokenWall = median(r.map((x) => (x.streamWall - x.runWall) / x.tokens));
  const perTokenOutside = median(r.map((x) => (x.streamWall - x.streamEngine - (x.runWall - x.runEngine)) / x.tokens));
  const perTokenEngine = median(r.map((x) => (x.streamEngine - x.runEngine) / x.tokens));
  console.log(
    JSON.stringify(
      {
        browser: 'Chromium (Debian), extension',
        backend: r[0]!.backend,
        rounds,
        tokens: n,
        chunksPerStream: median(r.map((x) => x.chunks)),
        model: values.shape === 'bench' ? 'Llama-shaped, bench build (4 layers × 256)' : 'Llama-shaped, test build',
        decodeTokensPerSecond: {
          run: Math.round(median(r.map((x) => x.runDecodeTps))),
          stream: Math.round(median(r.map((x) => x.decodeTps))),
        },
        medianRunWallMs: Math.round(median(r.map((x) => x.runWall))),
        medianStreamWallMs: Math.round(median(r.map((x) => x.streamWall))),
        perTokenMs: {
          wallDifference: +perTokenWall.toFixed(3),
          outsideEngineDifference: +perTokenOutside.toFixed(3),
          engineDifference: +perTokenEngine.toFixed(3),
        },
      },
      null,
      2,
    ),
  );
} finally {
  await chromium.close();
  await server.close();
}
