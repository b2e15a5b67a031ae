/**
 * The benchmark driver, loaded into a page where `window.webq` exists: the bench page (webq from the extension's
 * content script, plus the onnxruntime-web baseline) or the engine harness in @sparticuz/chromium (webq from the
 * in-page engine). bench/run.ts calls `window.benchDriver.*` through Playwright; every timing is taken here, in
 * the page, with performance.now(), so Playwright's own round trips never enter a number.
 *
 * Kept in a Vite-built module rather than in `page.evaluate` closures: tsx (which runs bench/run.ts) would wrap
 * named inner functions in helpers the page does not have.
 */
import {
  SIDE_BLOCK,
  toPage,
  type BaselinePolicy,
  type PageTensor,
  type PlainFeeds,
  type Series,
  type StreamSpec,
  type TaskInputSpec,
  type TaskOutput,
} from './wire';

type Tensor = { type: string; dims: number[]; data: ArrayLike<number | bigint> };
interface Webq {
  capabilities(): Promise<unknown>;
  /** `model`: a URL (raw models) or a registry id (task models) */
  load(
    model: string,
    options: Record<string, unknown>,
  ): Promise<
    { modelBytes: number; originalBytes: number; bits: number; weights: { precision: number }[] } & Record<
      string,
      unknown
    >
  >;
  run(
    model: string,
    input: unknown,
    options: Record<string, unknown>,
  ): Promise<{ output: any; performanceMetrics: Record<string, unknown> & { inferenceTimeMs: number } }>;
  /** text generation: text deltas, then `result` (output and metrics) */
  stream(
    model: string,
    input: unknown,
    options: Record<string, unknown>,
  ): ReadableStream<string> & { result: Promise<Awaited<ReturnType<Webq['run']>>> };
  unload(model: string): Promise<void>;
}
const webq = () => (window as unknown as { webq: Webq }).webq;
const baseline = () => import('./baseline');
const transformers = () => import('./transformers-baseline');

/** One webq generation as the page sees it, and the engine's own prefill/decode figures. */
export interface WebqGeneration {
  wallMs: number;
  /** call → first text delta in the page */
  firstTokenMs: number;
  promptTokens: number;
  tokens: number[];
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  timeToFirstTokenMs: number;
  inferenceTimeMs: number;
}

/** `webq.stream` read to its end: the page clock at the call, the first delta and the result. */
async function webqGenerate(
  model: string,
  messages: unknown,
  options: Record<string, unknown>,
): Promise<WebqGeneration> {
  const started = performance.now();
  const stream = webq().stream(model, { messages }, options);
  const reader = stream.getReader();
  let first = 0;
  for (;;) {
    const { done } = await reader.read();
    if (done) break;
    first ||= performance.now();
  }
  const r = await stream.result;
  const wallMs = performance.now() - started;
  const m = r.performanceMetrics as Record<string, number>;
  return {
    wallMs,
    firstTokenMs: (first || performance.now()) - started,
    promptTokens: r.output.usage.promptTokens,
    tokens: [...r.output.tokens],
    prefillTokensPerSecond: m.prefillTokensPerSecond!,
    decodeTokensPerSecond: m.decodeTokensPerSecond!,
    timeToFirstTokenMs: m.timeToFirstTokenMs!,
    inferenceTimeMs: m.inferenceTimeMs!,
  };
}

type RunResult = Awaited<ReturnType<Webq['run']>>;

/** `warmup` untimed calls, then `runs` timed ones (page wall clock and the engine's inference time); the last result.
 * */
async function timedRuns(
  model: string,
  input: unknown,
  options: Record<string, unknown>,
  runs: number,
  warmup: number,
  warmupMs: number,
): Promise<{ series: Series; last: RunResult }> {
  // At least `warmup` calls and `warmupMs`: the first cell after a launch otherwise times V8 still compiling
  // onnxruntime's wasm in the engine host (bench/lib/matrix.ts, HOPS_WARMUP_MS).
  const warmEnd = performance.now() + warmupMs;
  for (let i = 0; i < warmup || performance.now() < warmEnd; i++) await webq().run(model, input, options);
  const series: Series = { wallMs: [], inferenceMs: [] };
  let last: RunResult | undefined;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    last = await webq().run(model, input, options);
    series.wallMs.push(performance.now() - t);
    series.inferenceMs.push(last.performanceMetrics.inferenceTimeMs);
  }
  if (!last) throw new Error('timedRuns needs runs ≥ 1');
  return { series, last };
}

const inputs = new Map<string, Record<string, PageTensor>>();
const streams = new Map<string, StreamSpec & { samples: Float32Array }>();
const taskInputs = new Map<string, unknown>();

function buildTaskInput(spec: TaskInputSpec): unknown {
  if (spec.kind === 'text') return spec.text;
  if (spec.kind === 'audio') return { audio: Float32Array.from(spec.samples), sampleRate: spec.sampleRate };
  const canvas = document.createElement('canvas');
  canvas.width = spec.width;
  canvas.height = spec.height;
  const g = canvas.getContext('2d')!;
  g.fillStyle = spec.fill;
  g.fillRect(0, 0, spec.width, spec.height);
  for (const r of spec.rects) {
    g.fillStyle = r.color;
    g.fillRect(r.x, r.y, r.w, r.h);
  }
  return canvas;
}

/** A task's output reduced to what the agreement check needs (typed arrays as plain numbers). */
function reduceTaskOutput(output: any): TaskOutput {
  if (output && 'embeddings' in output)
    return { kind: 'embedding', dims: [...output.dims], data: Array.from(output.embeddings as Float32Array) };
  if (output && 'labels' in output)
    return {
      kind: 'labels',
      labels: output.labels.map((l: { label: string; score: number }) => ({ label: l.label, score: l.score })),
    };
  if (output && typeof output.text === 'string') return { kind: 'text', text: output.text, tokens: [...output.tokens] };
  throw new Error(`unexpected task output: ${JSON.stringify(output).slice(0, 200)}`);
}

/** A tensor as plain numbers (what Node compares against fp32); int64 outputs are not needed by any workload. */
const plain = (t: Tensor) => ({ dims: [...t.dims], data: Array.from(t.data as ArrayLike<number>) });

/**
 * Load phases as the page sees them: ms from the call to the first and the last event of each phase, and `busyMs`,
 * the time between consecutive events of the same phase summed (a task model loads its graphs one after the other,
 * so Whisper's three quantize phases have downloads between them: busyMs leaves those out).
 */
function phaseClock(started: number) {
  const phases: Record<string, { firstMs: number; lastMs: number; busyMs: number }> = {};
  let previous: { phase: string; at: number } | null = null;
  const onProgress = (p: { phase: string }) => {
    const at = performance.now() - started;
    const entry = (phases[p.phase] ??= { firstMs: at, lastMs: at, busyMs: 0 });
    if (previous?.phase === p.phase) entry.busyMs += at - previous.at;
    entry.lastMs = at;
    previous = { phase: p.phase, at };
  };
  return { phases, onProgress };
}

function streamFeeds(
  s: StreamSpec & { samples: Float32Array },
  i: number,
  state: Float32Array,
): Record<string, PageTensor> {
  const feeds: Record<string, PageTensor> = {};
  for (const [name, t] of Object.entries(s.extra)) feeds[name] = toPage(t);
  feeds[s.input] = { type: 'float32', dims: [1, s.frame], data: s.samples.slice(i * s.frame, (i + 1) * s.frame) };
  feeds[s.state] = { type: 'float32', dims: s.stateDims, data: state };
  return feeds;
}

const driver = {
  ready: true,

  setInputs(name: string, feeds: PlainFeeds): void {
    inputs.set(name, Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, toPage(t)])));
  },

  setStream(name: string, spec: StreamSpec): void {
    streams.set(name, { ...spec, samples: Float32Array.from(spec.audio), audio: [] });
  },

  setTaskInput(name: string, spec: TaskInputSpec): void {
    taskInputs.set(name, buildTaskInput(spec));
  },

  /**
   * The model host, for the engine harness page only (it has no options page): the same setting the options page
   * writes, in this origin's database, which the in-page engine reads.
   */
  async setModelHost(url: string): Promise<void> {
    const { setModelHost } = await import('../../extension/models/model-host');
    await setModelHost(url);
  },

  capabilities: () => webq().capabilities(),

  /**
   * The engine host's wasm threads, for the baselines to match; returns the count they will run. Imported, not
   * bundled here: ORT's pthread workers re-import the baseline's chunk, which must never pull in this page script.
   */
  setBaselineThreads: async (engineThreads: number) => (await import('./threads')).setBaselineThreads(engineThreads),

  async webqLoad(url: string, options: Record<string, unknown>) {
    const started = performance.now();
    const clock = phaseClock(started);
    const info = await webq().load(url, { ...options, onProgress: clock.onProgress });
    return { wallMs: performance.now() - started, phases: clock.phases, info };
  },

  unload: (url: string) => webq().unload(url),

  /** `warmup` untimed runs, then `runs` timed ones; the last output comes back for the agreement check. */
  async webqRun(
    url: string,
    inputName: string,
    options: Record<string, unknown>,
    runs: number,
    warmup: number,
    warmupMs: number,
    outputName: string,
  ) {
    const { series, last } = await timedRuns(url, inputs.get(inputName)!, options, runs, warmup, warmupMs);
    return { series, metrics: last.performanceMetrics, output: plain(last.output[outputName]!) };
  },

  /**
   * A task model by registry id, as a site calls it: the page's own input (a canvas, a Float32Array, strings) to
   * `webq.run(id, input, options)`; at least `warmup` untimed calls and `warmupMs` of them, then `runs` timed ones;
   * the last output comes back.
   */
  async webqTask(
    model: string,
    inputName: string,
    options: Record<string, unknown>,
    runs: number,
    warmup: number,
    warmupMs: number,
  ) {
    const { series, last } = await timedRuns(model, taskInputs.get(inputName)!, options, runs, warmup, warmupMs);
    return { series, metrics: last.performanceMetrics, output: reduceTaskOutput(last.output) };
  },

  /**
   * Streaming (Silero VAD): frames on a zero state, untimed, for at least `warmup` frames and `warmupMs` (a frame is
   * short enough that the first seconds after a load, while V8 still compiles onnxruntime's wasm, would decide the
   * median; the hop table's cell of the same model warms up as long), then every frame of the stream timed.
   */
  async webqStream(url: string, streamName: string, options: Record<string, unknown>, warmup: number, warmupMs = 0) {
    const s = streams.get(streamName)!;
    const zero = () => new Float32Array(s.stateDims.reduce((a, b) => a * b, 1));
    const warmEnd = performance.now() + warmupMs;
    for (let i = 0; i < warmup || performance.now() < warmEnd; i++)
      await webq().run(url, streamFeeds(s, i % s.frames, zero()), options);
    const series: Series = { wallMs: [], inferenceMs: [] };
    const scores: number[] = [];
    let state: Float32Array = zero();
    let metrics: Record<string, unknown> = {};
    for (let i = 0; i < s.frames; i++) {
      const t = performance.now();
      const r = await webq().run(url, streamFeeds(s, i, state), options);
      series.wallMs.push(performance.now() - t);
      series.inferenceMs.push(r.performanceMetrics.inferenceTimeMs);
      scores.push(Number(r.output[s.score]!.data[0]));
      state = r.output[s.stateOut]!.data as Float32Array;
      metrics = r.performanceMetrics;
    }
    return { series, metrics, output: { dims: [scores.length], data: scores } };
  },

  async baselineLoad(url: string, backend: 'wasm' | 'webgpu', policy: BaselinePolicy | null) {
    return (await baseline()).load(url, backend, policy);
  },

  baselineRelease: async (url: string) => (await baseline()).release(url),
  baselineVersion: async () => (await baseline()).version,

  /**
   * Side by side in this one tab: each round runs webq then the baseline on the same feeds, so drift (thermal,
   * other jobs on the machine) hits both alike. Both must be loaded; `warmup` rounds are untimed.
   */
  async interleaved(
    url: string,
    baselineUrl: string,
    inputName: string,
    options: Record<string, unknown>,
    rounds: number,
    warmup: number,
    warmupMs: number,
  ) {
    const b = await baseline();
    const feeds = inputs.get(inputName)!;
    return sideBySide(warmup, warmupMs, rounds, {
      webq: () => timed(async () => (await webq().run(url, feeds, options)).performanceMetrics.inferenceTimeMs),
      ort: () => timed(async () => (await b.run(baselineUrl, feeds)).ms),
    });
  },

  async transformersLoad(host: string, repo: string, device: 'wasm' | 'webgpu', ortBase: string) {
    return (await transformers()).load(host, repo, device, ortBase);
  },

  transformersRelease: async (host: string, repo: string, device: 'wasm' | 'webgpu') =>
    (await transformers()).release(host, repo, device),

  /**
   * Text generation side by side: each round runs `webq.stream(id, { messages })` to its end, then transformers.js's
   * pipeline on the same messages and the same hub files; both greedy, `maxNewTokens` new tokens. At least `warmup`
   * rounds and `warmupMs` are untimed (V8 tiers each runtime's wasm up during its first seconds of decoding).
   */
  async interleavedGeneration(
    model: string,
    host: string,
    repo: string,
    device: 'wasm' | 'webgpu',
    messages: unknown,
    options: Record<string, unknown>,
    maxNewTokens: number,
    rounds: number,
    warmup: number,
    warmupMs: number,
    ortLoop: { url: string; kvHeads: number; headDim: number } | null,
  ) {
    const t = await transformers();
    const b = ortLoop ? await baseline() : null;
    const webqRuns: WebqGeneration[] = [];
    const tjsRuns: Awaited<ReturnType<typeof t.generate>>[] = [];
    const ortRuns: Awaited<ReturnType<NonNullable<typeof b>['generateLoop']>>[] = [];
    const warmUntil = performance.now() + warmupMs;
    for (let i = 0; webqRuns.length < rounds; i++) {
      const w = await webqGenerate(model, messages, { ...options, maxNewTokens, temperature: 0 });
      const o = await t.generate(host, repo, device, messages as never, maxNewTokens);
      // The plain loop on webq's onnxruntime-web version, fed the prompt ids transformers.js made.
      const p = b && ortLoop ? await b.generateLoop(ortLoop.url, o.prompt, maxNewTokens, ortLoop) : null;
      if (i < warmup || performance.now() < warmUntil) continue;
      webqRuns.push(w);
      tjsRuns.push(o);
      if (p) ortRuns.push(p);
    }
    return { webq: webqRuns, transformers: tjsRuns, ort: ortRuns };
  },

  /** Same as `interleaved`, for a stream: frame by frame, webq and the baseline each carrying their own state. */
  async interleavedStream(
    url: string,
    baselineUrl: string,
    streamName: string,
    options: Record<string, unknown>,
    warmup: number,
    warmupMs: number,
  ) {
    const b = await baseline();
    const s = streams.get(streamName)!;
    const size = s.stateDims.reduce((a, c) => a * c, 1);
    /** One side, carrying its own state through the stream's frames in order (a fresh state at frame 0). */
    const carrying = (
      call: (feeds: Record<string, PageTensor>) => Promise<{ state: Float32Array; inference: number }>,
    ): SideCall => {
      let state: Float32Array = new Float32Array(size);
      return (i) =>
        timed(async () => {
          if (i % s.frames === 0) state = new Float32Array(size);
          const r = await call(streamFeeds(s, i % s.frames, state));
          state = r.state;
          return r.inference;
        });
    };
    // Warm-up rounds go through the stream (and around again); the timed ones are its frames in order, from frame 0.
    return sideBySide(warmup, warmupMs, s.frames, {
      webq: carrying(async (feeds) => {
        const r = await webq().run(url, feeds, options);
        return { state: r.output[s.stateOut]!.data as Float32Array, inference: r.performanceMetrics.inferenceTimeMs };
      }),
      ort: carrying(async (feeds) => {
        const o = await b.run(baselineUrl, feeds);
        return { state: o.outputs[s.stateOut]!.data as Float32Array, inference: o.ms };
      }),
    });
  },
};

/** One call of one side of a side-by-side row (its `i`-th): its wall time and its runtime's own session.run time. */
type SideCall = (i: number) => Promise<{ wall: number; inference: number }>;

/** Times `call` on the page's clock; it answers with its runtime's own session.run time. */
async function timed(call: () => Promise<number>): Promise<{ wall: number; inference: number }> {
  const t = performance.now();
  const inference = await call();
  return { wall: performance.now() - t, inference };
}

/**
 * webq and the baseline side by side, in blocks of SIDE_BLOCK calls each, the side that goes first alternating
 * block by block. Calls one after another of the same runtime, as a page that uses one of them makes them: alternated
 * call by call on 2 cores, each runtime ran colder (its idle threads woken, its caches taken by the other;
 * docs/architecture.md "Side by side on 2 cores"), and a block keeps both sides' drift alike.
 * Untimed blocks first — at least `warmup` calls of each side and at least `warmupMs`: right after a load, V8 still
 * compiles onnxruntime's wasm in the background for seconds (in the engine host and in this page), which on a
 * 2-core machine slows every hop — then `rounds` timed calls of each, numbered from 0 again.
 */
async function sideBySide(
  warmup: number,
  warmupMs: number,
  rounds: number,
  sides: { webq: SideCall; ort: SideCall },
): Promise<{ webq: Series; ort: Series }> {
  const series = { webq: { wallMs: [], inferenceMs: [] } as Series, ort: { wallMs: [], inferenceMs: [] } as Series };
  /** Calls [from, to) of both sides, block number `block` deciding which goes first; timed ones go in the series. */
  const turn = async (from: number, to: number, block: number, record: boolean) => {
    for (const name of block % 2 ? (['ort', 'webq'] as const) : (['webq', 'ort'] as const))
      for (let k = from; k < to; k++) {
        const m = await sides[name](k);
        if (record) {
          series[name].wallMs.push(m.wall);
          series[name].inferenceMs.push(m.inference);
        }
      }
  };
  const until = performance.now() + warmupMs;
  for (let i = 0, b = 0; i < warmup || performance.now() < until; i += SIDE_BLOCK, b++)
    await turn(i, i + SIDE_BLOCK, b, false);
  for (let i = 0, b = 0; i < rounds; i += SIDE_BLOCK, b++) await turn(i, Math.min(rounds, i + SIDE_BLOCK), b, true);
  return series;
}

export type BenchDriver = typeof driver;
Object.defineProperty(window, 'benchDriver', { value: driver, enumerable: false });
