/**
 * docs/benchmarks.md and docs/img/bench-*.svg from one results file: every table and chart is the numbers of
 * that run, nothing typed in by hand except the seed's published figures (quoted as published, for comparison).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkloadId } from '../models/workloads';
import { SEED_BUILDS, TEST_BUILDS, workload } from '../models/workloads';
import { genWorkload } from '../models/generation';
import type { BenchResults, EndToEndRow, GenerationRow } from './schema';
import { SIDE_BLOCK } from '../page/wire';
import { cellName, HOPS_WARMUP_MS, type Cell } from './matrix';
import { fmt } from './stats';
import { barChart, type BarGroup } from './svg';

const MB = (bytes: number) => bytes / 1e6;
const bitsLabel = (b: number) => (b === 32 ? 'fp32' : b === 16 ? 'fp16' : `${b}-bit`);
/** A row's precision: its bits, and `embeddings fp32` for the variant that keeps embedding tables at fp32 (matrix.ts).
 * */
const precisionLabel = (e: { bits: number; embeddings?: number }) =>
  `${bitsLabel(e.bits)}${e.embeddings === 32 ? ', embeddings fp32' : ''}`;

/** One row of the seed guide's tables, as published (never measured by code). */
interface SeedRow {
  browser: 'Chrome WebGPU' | 'Edge WebNN' | 'Firefox WebGPU';
  bits: number;
  ms: number;
  mb: number;
}

/**
 * The seed guide's "Performance Benchmarks" (shared/reference/seed-guide.md), per model: our workload at that size
 * (by id), and what stands in for it when no seed-size run exists (BERT: the raw BERT-base-sized encoder).
 */
const SEED_TABLES: readonly {
  name: string;
  title: string;
  model: WorkloadId;
  fallback?: WorkloadId;
  rows: readonly SeedRow[];
}[] = [
  {
    name: 'bert',
    title: 'Text Models (BERT-base)',
    model: 'bert-id-base',
    fallback: 'bert',
    rows: [
      { browser: 'Chrome WebGPU', bits: 16, ms: 8.2, mb: 112 },
      { browser: 'Chrome WebGPU', bits: 8, ms: 6.5, mb: 76 },
      { browser: 'Chrome WebGPU', bits: 4, ms: 4.8, mb: 48 },
      { browser: 'Chrome WebGPU', bits: 2, ms: 3.7, mb: 36 },
      { browser: 'Edge WebNN', bits: 8, ms: 10.5, mb: 98 },
      { browser: 'Firefox WebGPU', bits: 4, ms: 5.2, mb: 49 },
    ],
  },
  {
    name: 'vit',
    title: 'Vision Models (ViT-base)',
    model: 'vit-id-base',
    rows: [
      { browser: 'Chrome WebGPU', bits: 16, ms: 15.7, mb: 156 },
      { browser: 'Chrome WebGPU', bits: 8, ms: 11.8, mb: 98 },
      { browser: 'Chrome WebGPU', bits: 4, ms: 9.5, mb: 60 },
      { browser: 'Edge WebNN', bits: 8, ms: 19.8, mb: 138 },
      { browser: 'Firefox WebGPU', bits: 4, ms: 10.2, mb: 62 },
    ],
  },
  {
    name: 'whisper',
    title: 'Audio Models (Whisper-tiny)',
    model: 'whisper-id-tiny',
    rows: [
      { browser: 'Chrome WebGPU', bits: 16, ms: 52.3, mb: 184 },
      { browser: 'Chrome WebGPU', bits: 8, ms: 39.2, mb: 104 },
      { browser: 'Chrome WebGPU', bits: 4, ms: 31.7, mb: 70 },
      { browser: 'Firefox WebGPU', bits: 4, ms: 25.4, mb: 71 },
      { browser: 'Edge WebNN', bits: 8, ms: 58.2, mb: 162 },
    ],
  },
];

/** The last column of an end-to-end table: what the output is checked by, per kind of output. */
function agreementColumn(rows: EndToEndRow[]): { header: string; cell: (e: EndToEndRow) => string } {
  if (rows.some((e) => e.label !== undefined)) {
    return {
      header: "top label (✓ = fp32's; its score − fp32's)",
      cell: (e) => `${e.labelMatches ? '✓' : '✗'} ${e.label} (${signed(e.scoreDelta ?? 0)})`,
    };
  }
  if (rows.some((e) => e.textReference === 'fp32'))
    return { header: "text (✓ = fp32's)", cell: (e) => `${e.textMatches ? '✓' : '✗'} "${e.text}"` };
  if (rows.some((e) => e.text !== undefined))
    return { header: 'text', cell: (e) => `${e.textMatches ? '✓' : '✗'} "${e.text}"` };
  return { header: 'max abs Δ', cell: (e) => (e.maxAbsDiff === null ? '—' : e.maxAbsDiff.toExponential(1)) };
}

const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(4)}`;
const shortLabel = (model: WorkloadId) => workload(model).label.split(' (')[0]!;

function endToEndSection(
  r: BenchResults,
  model: WorkloadId,
  img: (name: string, svg: string) => string,
  level = '###',
): string[] {
  const rows = r.endToEnd.filter((e) => e.model === model);
  if (!rows.length) return [];
  const task = rows.some((e) => e.registryId !== undefined);
  const last = agreementColumn(rows);
  const lines = [
    `${level} ${workload(model).label}`,
    '',
    `| browser | backend | precision | median ms | min–max ms | ${task ? 'pipeline ms' : 'session.run ms'} | load ms | weights MB | reduction | cosine vs fp32 | ${last.header} |`,
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (e) =>
        `| ${e.browser} | ${e.backend} | ${precisionLabel(e)}${e.gotBits !== e.bits ? ` (ran ${bitsLabel(e.gotBits)})` : ''} | **${fmt(e.medianMs)}** | ${fmt(e.minMs)}–${fmt(e.maxMs)} | ${fmt(e.medianInferenceMs)} | ${fmt(e.loadMs)} | ${fmt(MB(e.modelBytes))} | ${e.memoryReductionPercent.toFixed(1)}% | ${e.cosine === null ? '—' : e.cosine.toFixed(5)} | ${last.cell(e)} |`,
    ),
    '',
  ];
  const browsers = [...new Set(rows.map((e) => `${e.browser} ${e.backend}`))];
  const precisions = [...new Set(rows.map(precisionLabel))];
  const groups: BarGroup[] = precisions.map((p) => ({
    label: p,
    values: browsers.map(
      (s) => rows.find((e) => `${e.browser} ${e.backend}` === s && precisionLabel(e) === p)?.medianMs ?? null,
    ),
  }));
  lines.push(
    img(
      `bench-latency-${model}`,
      barChart({
        title: `${shortLabel(model)}: latency`,
        unit: 'median ms per call, page wall clock (lower is better)',
        series: browsers,
        groups,
      }),
    ),
    '',
  );
  return lines;
}

function hopsSection(r: BenchResults, img: (name: string, svg: string) => string): string[] {
  if (!r.hops.length) return [];
  const within = r.hops.filter((h) => h.withinGoal).length;
  return [
    '## The cost of the extension: webq vs onnxruntime-web in the page',
    '',
    "Same tab, same model bytes (quantized variants prepared by webq's own `prepareModel` in the baseline page),",
    'same onnxruntime-web build, session options and wasm threads as the engine host (the browser table above). The',
    `two take turns in blocks of ${SIDE_BLOCK} calls, \`webq.run\` and the baseline's \`session.run\` (tensors made from the page's arrays,`,
    'outputs read back), the side that goes first alternating block by block, so drift hits both alike and each runs',
    `its calls back to back as a page using it would. ${r.runs} calls each (Silero: every frame of the stream)`,
    `after a warm-up of both: at least ${r.warmup} calls and ${HOPS_WARMUP_MS / 1000} s, until V8 has compiled onnxruntime's`,
    'wasm in the engine host and the page (before that, background compilation slows every hop on a 2-core machine:',
    '[architecture.md](architecture.md#what-the-hops-cost)). Overhead = median webq − median baseline; goal: ≤ max(1 ms, 5 % of',
    "the baseline). Chrome sends a page's calls straight to the offscreen document once its first call passed the router.",
    'The "session.run" columns are each runtime\'s own time around `session.run` (webq: in the engine host).',
    '',
    '| browser | model | backend | precision | webq ms | ORT-in-page ms | overhead ms | ratio | webq session.run | page session.run | goal ms | within goal |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...r.hops.map(
      (h) =>
        `| ${h.browser} | ${h.model} | ${h.backend} | ${bitsLabel(h.bits)} | ${fmt(h.webqMedianMs)} | ${fmt(h.ortMedianMs)} | ${fmt(h.overheadMs)} | ${h.ratio.toFixed(2)} | ${fmt(h.webqInferenceMedianMs)} | ${fmt(h.ortInferenceMedianMs)} | ${fmt(h.goalMs)} | ${h.withinGoal ? 'yes' : '**no**'} |`,
    ),
    '',
    `${within} of ${r.hops.length} comparisons are within the goal.`,
    '',
    "On this 2-core VM a round's two halves are not independent: the baseline's wasm threads, still winding down when",
    "webq's next call reaches the engine host, take a core from it. The faster a call gets there, the more it pays: the",
    'Silero row is the one it decides (docs/architecture.md, "Side by side on 2 cores"; `--baseline-threads 1` to see it).',
    '',
    img(
      'bench-hops',
      barChart({
        title: 'webq through the extension vs onnxruntime-web in the page',
        unit: 'median ms per call (lower is better)',
        series: ['webq (extension)', 'onnxruntime-web in page'],
        groups: r.hops.map((h) => ({
          label: `${h.browser === 'chromium' ? '' : `${h.browser} `}${h.model} ${h.backend} ${bitsLabel(h.bits)}`,
          values: [h.webqMedianMs, h.ortMedianMs],
        })),
      }),
    ),
    '',
  ];
}

/** `1.23×` in bold when below 1 (webq slower on that figure). */
const speedup = (x: number) => (x >= 1 ? `${x.toFixed(2)}×` : `**${x.toFixed(2)}×**`);

/** The rows' new-token counts: "32", or "32 (8 on webgpu)" where a backend's rows ask for fewer. */
function newTokensText(rows: readonly GenerationRow[]): string {
  const main = rows[0]!.maxNewTokens;
  const other = [
    ...new Set(rows.filter((g) => g.maxNewTokens !== main).map((g) => `${g.maxNewTokens} on ${g.backend}`)),
  ];
  return other.length ? `${main} (${other.join(', ')})` : `${main}`;
}

/**
 * webq vs transformers.js generating text (`gen`: the run the rows come from, `main`: the page's run; when they differ
 * the rows' own run is named).
 */
function generationSection(
  gen: BenchResults | undefined,
  main: BenchResults,
  img: (name: string, svg: string) => string,
): string[] {
  const rows = gen?.generation ?? [];
  if (!gen || !rows.length) return [];
  const first = rows[0]!;
  const slower = rows.filter((g) => Math.min(g.speedup.prefill, g.speedup.decode, g.speedup.wall) < 1);
  const firstSlower = rows.filter((g) => g.speedup.firstToken < 1);
  const models = [...new Set(rows.map((g) => g.model))];
  const lines = [
    '## Text generation: webq vs transformers.js in the page',
    '',
    ...(gen !== main ? [`Measured by ${runLine(gen)}.`, ''] : []),
    `The same hub files on the bench's mirror of the model host: webq by registry id (\`webq.stream(id, { messages }, { backend,`,
    `useQuantization: false, maxNewTokens: ${newTokensText(rows)}, temperature: 0 })\`, the repo's \`onnx/model.onnx\` as stored), transformers.js`,
    `${first.transformersVersion} (its own onnxruntime-web ${first.transformersOrtVersion}) in the same page by repo name (\`pipeline('text-generation', repo,`,
    `{ device, dtype: 'fp32' })\` with \`env.remoteHost\` at the mirror; \`do_sample: false, repetition_penalty: 1\`), on the same backend, with the`,
    "engine host's wasm threads each (the browser table above). Both render the repo's chat template over the same two messages and",
    `generate greedily. Each round runs webq, then transformers.js; ${first.rounds} rounds after a warm-up of at least ${first.warmup} rounds`,
    `and ${HOPS_WARMUP_MS / 1000} s (V8 tiers each runtime's wasm up during its first seconds of decoding), medians.`,
    '',
    "- *prefill tok/s* = prompt tokens ÷ prefill time. webq: the engine's `performanceMetrics.prefillTokensPerSecond` (the prompt's",
    '  forward pass, timed in the engine); transformers.js: from its streamer, which `generate()` calls with the prompt before the first',
    '  forward pass and with each new token after it is picked (prompt → first token).',
    "- *decode tok/s* = (new tokens − 1) ÷ the time from the first to the last new token: webq's `decodeTokensPerSecond`; transformers.js:",
    '  its streamer, first → last token.',
    '- *first token ms* and *wall ms*: the page clock, from the call to the first new token in the page (webq: its first text delta, through',
    "  the extension's messaging; transformers.js: its streamer) and to the whole result. These include tokenizing and the chat template.",
    '- *×* = webq ÷ transformers.js for rates, transformers.js ÷ webq for times: ≥ 1 means webq is at least as fast (bold: it is not).',
    "- *same tokens*: webq's greedy ids equal transformers.js's in every round (and the prompts are the same length).",
    "- *plain loop*: the same file on the onnxruntime-web version webq's engine runs, in the page, in a greedy loop written as",
    '  plainly as a page would (prefill, then one token at a time, logits read back, argmax), timed as transformers.js is, fed',
    "  transformers.js's prompt ids: it tells what the runtime's version accounts for, apart from webq's path around it.",
    '',
    ...models.map((m) => `- \`${m}\`: ${genWorkload(m).label}.`),
    '',
    '| browser | backend | model | prompt → new tokens | same tokens | prefill tok/s webq | transformers.js | × | decode tok/s webq | transformers.js | × | first token ms webq | transformers.js | × | wall ms webq | transformers.js | × | plain loop prefill / decode tok/s |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (g: GenerationRow) =>
        `| ${g.browser} | ${g.backend} | ${g.model} | ${g.promptTokens} → ${g.newTokens} | ${g.sameTokens ? '✓' : '**✗**'} | ${fmt(g.webq.prefillTokensPerSecond)} | ${fmt(g.transformers.prefillTokensPerSecond)} | ${speedup(g.speedup.prefill)} | ${fmt(g.webq.decodeTokensPerSecond)} | ${fmt(g.transformers.decodeTokensPerSecond)} | ${speedup(g.speedup.decode)} | ${fmt(g.webq.firstTokenMs)} | ${fmt(g.transformers.firstTokenMs)} | ${speedup(g.speedup.firstToken)} | ${fmt(g.webq.wallMs)} | ${fmt(g.transformers.wallMs)} | ${speedup(g.speedup.wall)} | ${g.ortInPage ? `${fmt(g.ortInPage.prefillTokensPerSecond)} / ${fmt(g.ortInPage.decodeTokensPerSecond)}${g.ortInPage.sameTokens ? '' : ' (other tokens)'}` : '—'} |`,
    ),
    '',
    slower.length
      ? `webq is slower on prefill, decode or wall time in ${slower.length} of ${rows.length} rows (bold).`
      : `webq is at least as fast on prefill, decode and wall time in all ${rows.length} rows.`,
    firstSlower.length
      ? `The first token reaches the page later with webq in ${firstSlower.length} of ${rows.length} rows (by ${firstSlower.map((g) => fmt(g.webq.firstTokenMs - g.transformers.firstTokenMs)).join(', ')} ms): webq's first token also travels the extension's messaging and its tokenizer worker (engine time to first token ${firstSlower.map((g) => fmt(g.webq.engineFirstTokenMs)).join(', ')} ms against the page's ${firstSlower.map((g) => fmt(g.webq.firstTokenMs)).join(', ')}), transformers.js's does not leave the page.`
      : 'The first token reaches the page at least as soon with webq in every row.',
    '',
    ...(rows.some((g) => g.backend === 'webgpu')
      ? [
          "The WebGPU rows run the e2e tests' tiny builds (hidden 32; on an emulated adapter they compare what each runtime does",
          "around the graph — the cache on the device, what a step reads back — not a GPU's arithmetic). The bench builds on WebGPU",
          "and Firefox's WebGPU are in `--full`: on this machine (no GPU) a Chromium WebGPU cell of the bench build did not end within 5",
          'minutes on SwiftShader, and in Firefox (lavapipe) one hit the WebDriver protocol timeout and the next found the extension',
          'restarted (`--generation --backends webgpu`, 2026-12-05).',
          '',
        ]
      : [
          'No WebGPU rows: they are in `--full` (8 new tokens). On this machine (no GPU) a Chromium WebGPU cell did not end within 5',
          'minutes on SwiftShader, and in Firefox (lavapipe) one hit the WebDriver protocol timeout and the next found the extension restarted',
          '(`--generation --backends webgpu`, 2026-12-05); which runtime stalls was not isolated.',
          '',
        ]),
    img(
      'bench-generation',
      barChart({
        title: 'Text generation: decode tokens/s, webq vs transformers.js',
        unit: 'median tokens/s (higher is better)',
        series: ['webq (extension)', 'transformers.js in page'],
        groups: rows.map((g) => ({
          label: `${g.browser} ${g.backend} ${g.model.replace(/-gen-\w+$/, '')}`,
          values: [g.webq.decodeTokensPerSecond, g.transformers.decodeTokensPerSecond],
        })),
      }),
    ),
    '',
  ];
  const skipped = gen.skipped.filter((k) => k.what.startsWith('generation '));
  if (skipped.length && gen !== main)
    lines.push(
      'Not measured:',
      '',
      ...skipped.map((k) => `- ${k.browser ?? ''} ${k.what}: ${k.why.replace(/\|/g, '\\|')}`),
      '',
    );
  return lines;
}

function loadsSection(r: BenchResults, img: (name: string, svg: string) => string): string[] {
  if (!r.loads.length) return [];
  const keys = [...new Set(r.loads.map((l) => `${l.model} ${l.backend} ${bitsLabel(l.bits)}`))];
  const at = (k: string, kind: string) =>
    r.loads.find((l) => `${l.model} ${l.backend} ${bitsLabel(l.bits)}` === k && l.kind === kind);
  return [
    '## Cold, warm and in-memory loads (Chromium)',
    '',
    '`webq.load` wall time in the page. Cold: a URL never seen (download from 127.0.0.1, quantization, IndexedDB write, session',
    'creation); warm: the same URL after `unload` (IndexedDB read, sha256 check, session creation; no network, no quantization);',
    `in-memory: \`load\` while loaded (the engine hands back the session). Medians of ${r.loads[0]!.samples} samples; phases are the`,
    'median time between the first and last progress event of each phase.',
    '',
    '| model | backend | precision | cold ms | warm ms | in-memory ms | cold phases | warm phases |',
    '|---|---|---|---|---|---|---|---|',
    ...keys.map((k) => {
      const [c, w, m] = [at(k, 'cold'), at(k, 'warm'), at(k, 'memory')];
      const ph = (p?: Record<string, number>) =>
        Object.entries(p ?? {})
          .map(([n, v]) => `${n} ${fmt(v)}`)
          .join(', ');
      return `| ${k.split(' ').join(' | ')} | ${fmt(c?.medianMs)} | ${fmt(w?.medianMs)} | ${fmt(m?.medianMs)} | ${ph(c?.phases)} | ${ph(w?.phases)} |`;
    }),
    '',
    img(
      'bench-loads',
      barChart({
        title: 'Load time: cold vs warm (IndexedDB) vs in memory',
        unit: 'median ms (lower is better)',
        series: ['cold', 'warm', 'in memory'],
        groups: keys.map((k) => ({
          label: k,
          values: ['cold', 'warm', 'memory'].map((kind) => at(k, kind)?.medianMs ?? null),
        })),
      }),
    ),
    '',
  ];
}

/** Which quantizer the engine used for a row, from its notes: GPU kernels, the CPU (TypeScript) one, or both. */
function quantizerOf(e: EndToEndRow | undefined): string {
  const gpu = e?.fallbacks.some((f) => /quantized on the GPU/.test(f));
  const cpu = e?.fallbacks.some((f) => /^quantizer: CPU/.test(f));
  return gpu && cpu ? 'GPU + CPU' : gpu ? 'GPU' : cpu ? 'CPU' : '—';
}

function quantSection(quantization: BenchResults['quantization'], rows: EndToEndRow[], root: string): string[] {
  const lines = ['## Quantization time', ''];
  if (quantization.length) {
    const rowOf = (q: BenchResults['quantization'][number]) =>
      rows.find(
        (e) => e.browser === q.browser && e.model === q.model && e.bits === q.bits && e.embeddings === q.embeddings,
      );
    lines.push(
      "The load path: the engine parses the model, rewrites every weight to the policy — on webq's GPU kernels or its TypeScript",
      "quantizer, whichever it measured faster on this adapter (the *quantizer* column, from the run's notes) — and serializes it; the",
      'time is the page-observed `quantize` phase of the first load of each variant (later loads read it from the cache; for a model of',
      "several graphs, the phases summed), divided by all the model's weights (originalBytes / 4).",
      '',
      '| browser | model | precision | quantizer | weights (M) | prepare ms | ms per M params |',
      '|---|---|---|---|---|---|---|',
      ...quantization.map(
        (q) =>
          `| ${q.browser} | ${q.model} | ${precisionLabel(q)} | ${quantizerOf(rowOf(q))} | ${fmt(q.params / 1e6)} | ${fmt(q.prepareMs)} | ${fmt(q.msPerMParam)} |`,
      ),
      '',
    );
  }
  const kq = join(root, 'bench/results/kernels-quantize.json');
  if (existsSync(kq)) {
    const rows = JSON.parse(readFileSync(kq, 'utf8')) as {
      bits: number;
      K: number;
      N: number;
      gpuWithUploadParamsPerS: number;
      cpuParamsPerS: number;
    }[];
    lines.push(
      "GPU kernels (webq's WGSL quantizer) vs the TypeScript quantizer on bare matrices, from",
      '`npm run bench:kernels` (`node bench/kernels.mjs`, [bench/results/kernels.md](../bench/results/kernels.md)), converted to ms per M params:',
      '',
      '| bits | K×N | GPU incl. upload | TypeScript |',
      '|---|---|---|---|',
      ...rows.map(
        (q) =>
          `| ${q.bits} | ${q.K}×${q.N} | ${fmt((1e6 / q.gpuWithUploadParamsPerS) * 1e3)} | ${fmt((1e6 / q.cpuParamsPerS) * 1e3)} |`,
      ),
      '',
    );
  }
  return lines;
}

/** How a row's output agreed with fp32, in a few words (the seed table's last column). */
function agreementText(e: EndToEndRow): string {
  if (e.label !== undefined)
    return `${e.labelMatches ? '✓' : '✗'} top label ${e.label} (score ${signed(e.scoreDelta ?? 0)})`;
  if (e.textReference === 'fp32') return `${e.textMatches ? '✓' : '✗'} "${e.text}"`;
  return e.cosine === null ? '—' : `cosine ${e.cosine.toFixed(5)}`;
}

/** "1-minute load average 4.1 at the start, 7.4 at the end (3.9–11.2 between cells)" */
function loadText(r: BenchResults): string {
  const l = r.machine.loadAverage!;
  return `1-minute load average ${l.start.toFixed(1)} at the start, ${l.end.toFixed(1)} at the end${l.min !== undefined && l.max !== undefined ? `, ${l.min.toFixed(1)}–${l.max.toFixed(1)} between cells` : ''}`;
}
const busy = (r: BenchResults) => {
  const l = r.machine.loadAverage;
  return !!l && Math.max(l.start, l.end, l.max ?? 0) > r.machine.cpus;
};

/** How an end-to-end cell warmed up: `warmup` calls, and (results since it existed) at least `warmupMs` of them. */
function warmupText(r: BenchResults): string {
  const calls = `${r.warmup} warm-up runs`;
  return r.warmupMs ? `at least ${calls} and ${r.warmupMs / 1000} s of them` : calls;
}

function runLine(r: BenchResults): string {
  return (
    `\`${r.command}\` on ${r.startedAt.slice(0, 10)} in ${Math.round(r.seconds)} s, median of ${r.runs} runs after ${warmupText(r)}` +
    (r.machine.loadAverage
      ? `; ${loadText(r)}${busy(r) ? ` — above the ${r.machine.cpus} cores (the browsers under test count, and whatever else ran), so times are inflated and noisy` : ''}`
      : '')
  );
}

/**
 * The seed guide's three tables beside ours: `seed` is the run at the seed's sizes (`npm run bench -- --seed`, or a
 * full run), `main` the run this page is generated from (its raw BERT-base-sized encoder stands in when no by-id
 * BERT-base row exists).
 */
function seedSection(
  main: BenchResults,
  seed: BenchResults | undefined,
  img: (name: string, svg: string) => string,
): string[] {
  const source = seed ?? main;
  const lines = [
    "## The seed's published table, reproduced as far as this machine allows",
    '',
    'The seed guide ("Performance Benchmarks") publishes BERT-base, ViT-base and Whisper-tiny latency and memory by precision.',
    "Those figures were never produced by code; ours are measured by this harness, **by registry id** (`webq.run('vit-base-patch16-224', canvas, { bits })`)",
    'through a local mirror of the model host (set on the options page), with the inputs a site passes. No pretrained BERT, ViT or',
    "Whisper is reachable offline here, so the repos are generated (tools/hub-models) at the seed models' sizes with random",
    'weights: real-format tokenizers and configs, the real input and output names and shapes. Latency and memory follow from shapes;',
    'the agreement column says what quantization did to *these* weights (a scripted Whisper and a colour-reading ViT keep their answers),',
    'not to the pretrained ones.',
    '',
    '- **BERT-base**: 12 layers × 768, 12 heads, FFN 3072, 512 positions, a 30,522-token vocab (WordPiece, `[unused…]` fill), embeddings and',
    '  attention mask included. Input: one English text of 128 tokens. Output compared: the mean-pooled embedding.',
    '- **ViT-base**: 16×16 patches of 224×224 (Conv), 12 layers × 768, 12 heads, MLP 3072, 1000 labels. No class token and no',
    "  final LayerNorm (196 tokens, mean-pooled), otherwise ViT-base's graph. Input: a 640×480 canvas drawn in the page, resized by the pipeline.",
    '- **Whisper-tiny**: d_model 384, 6 heads, 4 encoder + 4 decoder layers (MLP 1536), 51,865-token vocab, 80 mels × 3000 frames → 1500 encoder',
    '  frames; encoder, decoder and decoder-with-past graphs as Optimum exports them (KV cache), greedy decoding. The two input convolutions',
    '  are one frame-pair projection (they hold 1.5 % of the weights), the decoder has no position table, and each decoder graph carries a',
    '  17 MB scripted-logits table (kept at fp32: its width has no quantization block) that makes the text depend on the sound.',
    "  Weights are counted over the three graphs as held: both decoder graphs carry the decoder's weights, as the Optimum export's do.",
    '  Input: 5.4 s of espeak-ng speech at 16 kHz. Output compared: the text.',
    '',
    seed ? `Measured by ${runLine(seed)}.` : 'Measured in the run above.',
    'The seed\'s device is unnamed (a real GPU, judging by the numbers); ours is named in each row. "Memory" here = the weights as held',
    '(`modelBytes`: codes + scales for quantized weights, fp32 where onnxruntime folds fp16 back), all graphs of a model together.',
    '',
  ];
  if (source.endToEnd.some((e) => e.embeddings === 32)) {
    lines.push(
      '**Embedding tables on wasm.** Under `{ bits: 8 | 4 | 2 }` webq stores a Gather table whose width a block of 128 divides as',
      "`GatherBlockQuantized` (com.microsoft); onnxruntime-web 1.30's wasm EP has no kernel for it, so BERT-base (768-wide word table)",
      "and Whisper-tiny (384-wide decoder token table) cannot create a wasm session at those precisions — nor at the text profile's",
      "default (mixed precision, embeddings at 8), which is what `webq.run('bert-base-uncased', text)` does when wasm is chosen. The",
      'failed rows say so (the WebGPU EP runs it; the test builds, 64 wide, keep their tables as they are and never meet it). The',
      'rows marked *embeddings fp32* keep those tables at fp32 instead (`mixedPrecision: true, attentionPrecision: max(bits, 4),',
      "embeddingPrecision: 32`; Whisper's output head at 8, as the mixed policy has it), so the other weights' precision can be measured.",
      '',
    );
  }
  const seedBackend = (b: string) => (b.includes('WebNN') ? 'webnn' : 'webgpu');
  const seedBrowser = (b: string) =>
    b.startsWith('Firefox') ? 'firefox' : b.startsWith('Edge') ? 'chromium-webnn' : 'chromium';
  for (const t of SEED_TABLES) {
    let model = t.model;
    let rows = source.endToEnd.filter((e) => e.model === model);
    if (!rows.length && t.fallback) {
      model = t.fallback;
      rows = main.endToEnd.filter((e) => e.model === model);
    }
    lines.push(`### ${t.title}`, '');
    if (!rows.length) {
      lines.push(`Not measured in this run: \`npm run bench -- --seed\` runs it (about 15 minutes here).`, '');
      continue;
    }
    if (model !== t.model)
      lines.push(`No by-id BERT-base run was found; these rows are the raw ${workload(model).label}.`, '');
    if (seed) lines.push(...endToEndSection(seed, model, img, '####'));
    const ours = (browser: string, backend: string, bits: number, embeddings?: number) =>
      rows.find(
        (e) => e.browser === browser && e.backend === backend && e.bits === bits && e.embeddings === embeddings,
      );
    // A cell that failed: its reason, shortened to onnxruntime's message where there is one.
    const failure = (browser: string, backend: string, bits: number) => {
      const why = (seed ?? main).skipped.find(
        (k) =>
          k.browser === browser &&
          k.what === cellName({ model, backend: backend as Cell['backend'], bits: bits as Cell['bits'] }),
      )?.why;
      return why
        ? `failed: ${why
            .replace(/^.*ERROR_MESSAGE: /, '')
            .replace(/ node with name .*$/, '')
            .slice(0, 110)}`
        : undefined;
    };
    lines.push(
      '| seed row | precision | seed ms | seed MB | our browser / backend | our device | our median ms | our weights MB | reduction | agreement with fp32 |',
      '|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const s of t.rows) {
      const show = (e: EndToEndRow | undefined, label: string, why = 'not measured in this run') =>
        e
          ? `| ${s.browser} | ${bitsLabel(s.bits)} | ${s.ms} | ${s.mb} | ${label} | ${e.device} | **${fmt(e.medianMs)}** | ${fmt(MB(e.modelBytes))} | ${e.memoryReductionPercent.toFixed(1)}% | ${agreementText(e)} |`
          : `| ${s.browser} | ${bitsLabel(s.bits)} | ${s.ms} | ${s.mb} | ${label} | — | ${why.replace(/\|/g, '\\|')} | — | — | — |`;
      const browser = seedBrowser(s.browser);
      const backend = seedBackend(s.browser);
      const where = backend === 'webgpu' ? '`--full` here, `--gpu` on a machine with a GPU' : '`--full`';
      lines.push(
        show(
          ours(browser, backend, s.bits),
          `${browser} ${backend}`,
          failure(browser, backend, s.bits) ?? `not measured in this run${seed ? ` (at this size: ${where})` : ''}`,
        ),
      );
      // The same model and precision on the CPU in the same browser (Edge's WebNN row: in Chromium), measured here.
      const cpuBrowser = browser === 'chromium-webnn' ? 'chromium' : browser;
      if (
        browser === 'chromium-webnn' &&
        s.bits === 8 &&
        t.rows.some((r) => r.browser === 'Chrome WebGPU' && r.bits === 8)
      )
        continue; // shown with Chrome's 8-bit row
      const cpu = ours(cpuBrowser, 'wasm', s.bits);
      const failed = failure(cpuBrowser, 'wasm', s.bits);
      if (cpu || failed) lines.push(show(cpu, `${cpuBrowser} wasm (same model, CPU)`, failed));
      const variant = ours(cpuBrowser, 'wasm', s.bits, 32);
      if (variant) lines.push(show(variant, `${cpuBrowser} wasm, embeddings fp32`));
    }
    const fp32 = ours('chromium', 'wasm', 32);
    if (fp32)
      lines.push(
        '',
        `Our fp32 reference: ${fmt(fp32.medianMs)} ms on wasm, ${fmt(fp32.originalBytes / 4 / 1e6)} M weights, ${fmt(MB(fp32.modelBytes))} MB.`,
      );
    const shares = [16, 8, 4, 2]
      .map((b) => {
        const e = ours('chromium', 'wasm', b) ?? ours('chromium', 'wasm', b, 32);
        return e
          ? `${bitsLabel(e.bits)}${e.embeddings ? ' (embeddings fp32)' : ''} ${fmt(100 - e.memoryReductionPercent)} %`
          : null;
      })
      .filter(Boolean);
    const seedFp16 = t.rows.find((r) => r.bits === 16 && r.browser === 'Chrome WebGPU')?.mb;
    const seedShares = seedFp16
      ? t.rows
          .filter((r) => r.browser === 'Chrome WebGPU' && r.bits < 16)
          .map((r) => `${bitsLabel(r.bits)} ${fmt((100 * r.mb) / seedFp16)} %`)
      : [];
    if (shares.length)
      lines.push(
        '',
        `Weights held, as a share of fp32: ${shares.join(', ')} (codes plus an fp32 scale per block of 128; fp16 is held as fp32 by onnxruntime's wasm EP). The seed's memory column, as a share of its fp16 figure: ${seedShares.join(', ')}.`,
      );
    const bits = [32, 16, 8, 4, 2];
    lines.push(
      '',
      img(
        `bench-seed-${t.name}`,
        barChart({
          title: `${t.title.replace(/^\w+ Models \((.*)\)$/, '$1')}: weights held by precision (ours, measured) vs the seed's memory column`,
          unit: 'MB (lower is better)',
          series: ['webq (measured)', 'seed guide (published)'],
          groups: bits.map((b) => ({
            label: bitsLabel(b),
            values: [
              (ours('chromium', 'wasm', b) ?? ours('chromium', 'webgpu', b) ?? ours('chromium', 'wasm', b, 32))
                ?.modelBytes ?? null,
              t.rows.find((s) => s.bits === b && s.browser === 'Chrome WebGPU')?.mb ?? null,
            ].map((v, i) => (v === null ? null : i === 0 ? MB(v) : v)),
          })),
        }),
      ),
      '',
    );
  }
  // How much slower 4-bit is than fp32 on the emulated GPU, for the ids' test builds of the main run.
  const gpuRatios = TEST_BUILDS.map((m) => {
    const at = (bits: number) =>
      main.endToEnd.find(
        (e) => e.model === m && e.browser === 'chromium' && e.backend === 'webgpu' && e.bits === bits && !e.embeddings,
      );
    const [four, full] = [at(4), at(32)];
    return four && full ? four.medianMs / full.medianMs : null;
  }).filter((x): x is number => x !== null);
  lines.push(
    'Why ours are slower by orders of magnitude: this machine has no GPU. "WebGPU" is SwiftShader (Vulkan emulated on 2 CPU cores) and',
    "wasm is one thread; the seed's 3.7–58 ms would need several TFLOP/s. At these sizes SwiftShader takes minutes per call (in a trial, one",
    `ViT-base fp32 WebGPU cell — load and 3 calls — had not finished after 7 minutes${gpuRatios.length ? `; the ids' test builds at 4-bit on WebGPU took ${fmt(Math.min(...gpuRatios))}–${fmt(Math.max(...gpuRatios))}× their fp32 time in the run above` : ''}), so WebGPU and`,
    "WebNN rows at the seed's sizes are left to `--full` (and to a machine with a GPU: `--gpu`, below); on this machine they were run on",
    'wasm only. The memory column is comparable in kind: both count the weights a precision leaves.',
    '',
  );
  return lines;
}

function nvidiaSection(): string[] {
  return [
    '## Running it on an NVIDIA machine',
    '',
    'The same harness, with Chromium on the real GPU instead of SwiftShader:',
    '',
    '```sh',
    'apt-get install -y chromium firefox-esr mesa-vulkan-drivers espeak-ng imagemagick   # plus the NVIDIA driver with its Vulkan ICD',
    'npm ci && npm run build',
    'vulkaninfo --summary | grep -i nvidia        # the NVIDIA ICD must be listed (nvidia_icd.json)',
    'npm run bench -- --gpu --full                # or --gpu for the quick matrix',
    '```',
    '',
    '`--gpu` starts Chromium with `--enable-unsafe-webgpu --enable-features=Vulkan --use-angle=vulkan --ignore-gpu-blocklist`',
    'and none of the SwiftShader flags (`--use-vulkan=swiftshader`, `--use-webgpu-adapter=swiftshader`) — see',
    '`REAL_GPU_ARGS` in `bench/lib/browsers.ts`. Headless Chromium needs no display for WebGPU on Vulkan; if the adapter',
    "still reads `swiftshader` in the results' browser table, the NVIDIA Vulkan ICD is not found (`VK_ICD_FILENAMES=",
    '/usr/share/vulkan/icd.d/nvidia_icd.json`). The device is named in every row, from `webq.capabilities()`, so a run on the wrong',
    'adapter is visible. The kernel benchmark takes the same switch: `node bench/kernels.mjs --gpu`.',
    'Firefox needs `dom.webgpu.enabled` (set by the launcher); on a real GPU it no longer needs `gfx.webgpu.ignore-blocklist`.',
    '',
  ];
}

/**
 * The page, from the run `r` (quick, or full) and, when given, the separate run at the seed's sizes (`seed`): its
 * models get the seed section (their end-to-end tables beside the seed's figures), their quantization times join the
 * others', and what it could not measure is listed with the rest.
 */
export function renderMarkdown(
  r: BenchResults,
  root: string,
  writeImage: (name: string, svg: string) => string,
  seed?: BenchResults,
  gen?: BenchResults,
): string {
  const chromium = r.browsers.find((b) => b.name === 'chromium');
  const models = [...new Set(r.endToEnd.map((e) => e.model))];
  const lines = [
    '# Benchmarks',
    '',
    `<!-- generated by bench/run.ts from bench/results/bench-${r.matrix}.json${seed ? ` and bench-${seed.matrix}.json` : ''}; edit bench/lib/report.ts, not this file (a \`## \` section the generator does not write is kept as it is) -->`,
    '',
    `Generated by \`${r.command}\` on ${r.startedAt.slice(0, 10)} in ${Math.round(r.seconds)} s (matrix **${r.matrix}**).`,
    `Machine: ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB, ${r.machine.os}, Node ${r.machine.node}; onnxruntime-web ${r.ortVersion}.`,
    `Every figure is a median of ${r.runs} runs after ${warmupText(r)} (Silero VAD: per frame over a ${'40'}-frame stream, after ${HOPS_WARMUP_MS / 1000} s of frames), all`,
    'measured side by side in this one run. Benchmarks are tools: CI does not run them and no number fails anything.',
    ...(r.machine.loadAverage
      ? [
          `${loadText(r)}${busy(r) ? ` — above the ${r.machine.cpus} cores (the browsers under test count, and whatever else ran), so absolute times are inflated and noisy; the side-by-side comparisons (same run, interleaved) are the figures to trust` : ''}.`,
        ]
      : []),
    ...(r.notes ?? []),
    '',
    '| browser | version | WebGPU adapter (from `webq.capabilities()`) | emulated | WebNN | wasm threads (engine / page baselines) | how |',
    '|---|---|---|---|---|---|---|',
    ...r.browsers.map(
      (b) =>
        `| ${b.name} | ${b.version} | ${b.adapter} | ${b.emulated ? 'yes' : 'no'} | ${b.webnn ? 'yes' : 'no'} | ${b.wasmThreads}${b.baselineThreads === undefined ? '' : ` / ${b.baselineThreads}`} | ${b.how} |`,
    ),
    '',
  ];
  if (chromium?.emulated) {
    lines.push(
      '**No GPU on this machine**: WebGPU runs on SwiftShader (Chromium) / lavapipe (Firefox), i.e. on the same 2 CPU cores',
      'as wasm, so WebGPU numbers here say nothing about a real GPU; they show that the paths work and what they cost on a CPU.',
      '',
    );
  }
  lines.push(
    '## How to run',
    '',
    '```sh',
    'npm run build            # dist/chrome, dist/firefox, dist/harness (the bench needs them)',
    'npm run bench            # = npx tsx bench/run.ts --quick: this file + bench/results/bench-quick.json',
    "npm run bench -- --seed  # the registry ids at the seed table's sizes: bench/results/bench-seed.json (~15 min here)",
    'npm run bench -- --generation  # only the text-generation rows (webq vs transformers.js): bench/results/bench-generation.json',
    'npm run bench -- --full  # every model × precision × backend in Chromium, Firefox and WebNN (long on SwiftShader)',
    'npm run bench -- --gpu   # Chromium on the real GPU (below)',
    "npm run bench:kernels    # webq's WGSL kernels vs onnxruntime-web MatMulNBits (bench/results/kernels.md)",
    '```',
    '',
    'Options: `--runs N`, `--no-firefox`, `--no-webnn`, `--no-docs`, `--out DIR`, `--models a,b` / `--backends wasm` / `--bits 32,4` (a part of',
    "the matrix), `--baseline-threads N` (the page baselines' wasm threads, not the engine's), `--report FILE` (re-render this page; the seed section is read from bench/results/bench-seed.json). The quick matrix: PP-OCRv4 rec and Silero VAD",
    '× {fp32, fp16, 8, 4, 2} on wasm and {fp32, 4} on WebGPU in Chromium; the BERT-base-sized encoder × all precisions on wasm only',
    '(WebGPU left to `--full`: SwiftShader already takes 5–28 s per PP-OCR call); the three registry ids by name (`bert-base-uncased`,',
    '`vit-base-patch16-224`, `whisper-tiny`, their e2e test builds, from a mirror of the model host set on the options page) × all precisions on',
    'wasm and {fp32, 4} on WebGPU; Firefox with the two small models and the three ids at fp32/4 on wasm; WebNN (@sparticuz/chromium,',
    "engine harness page) with the small models at fp32 and 8 bits (and wasm fp32 beside them). `--seed` runs the ids at the seed table's",
    'sizes (below); `--full` adds the rest. Text generation: a Llama- and a Qwen2-shaped model on wasm in Chromium and Firefox, and',
    "the e2e tests' tiny builds of both on WebGPU in Chromium (`--full` adds the rest of WebGPU), webq vs transformers.js (below).",
    'The smoke test (`tests/e2e/bench-smoke.test.ts`) runs a tiny matrix (PP-OCR, a',
    "2-layer encoder, the three ids' test builds and the e2e tests' tiny Llama generating 4 tokens against transformers.js) twice-sampled",
    'and checks the JSON, never the speed.',
    '',
    "Columns: *median ms* = page wall clock from `webq.run` to its result (what a site sees); *session.run ms* = the engine's",
    '`inferenceTimeMs` (for a registry id, *pipeline ms*: the whole task in the engine host — tokenising or resizing or log-mel, every graph',
    'run, every decoder step, post-processing); *weights MB* = `modelBytes` (all graphs); *reduction* = `memoryReductionPercent`; *cosine vs',
    'fp32* compares the output with the fp32 output of the same browser and backend (Silero: the per-frame speech probabilities; text ids:',
    'the mean-pooled embeddings; image ids: the probabilities of every label, lined up by label); OCR also decodes the text, image ids give',
    "the top label (and how far fp32's top label's probability moved), speech ids the text, compared with fp32's.",
    '',
    '## End to end',
    '',
  );
  for (const m of models) lines.push(...endToEndSection(r, m, writeImage));
  lines.push(
    ...hopsSection(r, writeImage),
    ...generationSection(gen, r, writeImage),
    ...loadsSection(r, writeImage),
    ...quantSection(
      [...r.quantization, ...(seed?.quantization ?? [])],
      [...r.endToEnd, ...(seed?.endToEnd ?? [])],
      root,
    ),
    ...seedSection(r, seed, writeImage),
    ...nvidiaSection(),
  );
  const skipped = [
    ...r.skipped.map((s) => ({ ...s, run: r.matrix })),
    ...(seed?.skipped ?? []).map((s) => ({ ...s, run: seed!.matrix })),
  ];
  if (skipped.length) {
    lines.push(
      '## Not measured',
      '',
      '| run | browser | what | why |',
      '|---|---|---|---|',
      ...skipped.map((s) => `| ${s.run} | ${s.browser ?? '—'} | ${s.what} | ${s.why.replace(/\|/g, '\\|')} |`),
      '',
    );
  }
  return lines.join('\n');
}

/**
 * Writes docs/benchmarks.md (+ docs/img) from a run and the committed results beside it: after a seed run, the page is
 * the quick run's with this seed section; after a quick run, the last seed run's section is kept (a full run carries
 * its own seed-size rows).
 */
export function writeReport(r: BenchResults, root: string): void {
  const read = (name: string): BenchResults | undefined => {
    const path = join(root, 'bench/results', name);
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as BenchResults) : undefined;
  };
  const main = r.matrix === 'seed' || r.matrix === 'generation' ? (read('bench-quick.json') ?? r) : r;
  // Generation rows: this run's, else the page's run's, else the last `--generation` run's.
  const gen = r.generation?.length ? r : main.generation?.length ? main : read('bench-generation.json');
  const hasSeedSizes = (x: BenchResults) => x.endToEnd.some((e) => SEED_BUILDS.includes(e.model as never));
  const seed =
    r.matrix === 'seed' ? (main === r ? undefined : r) : hasSeedSizes(r) ? undefined : read('bench-seed.json');
  const imgDir = join(root, 'docs/img');
  mkdirSync(imgDir, { recursive: true });
  const writeImage = (name: string, svg: string) => {
    writeFileSync(join(imgDir, `${name}.svg`), svg);
    return `![${name}](img/${name}.svg)`;
  };
  const page = join(root, 'docs/benchmarks.md');
  const generated = renderMarkdown(main, root, writeImage, seed, gen);
  writeFileSync(page, keepWrittenSections(generated, existsSync(page) ? readFileSync(page, 'utf8') : ''));
}

/** The `## ` sections this generator writes (and wrote before): every other section of the page was written by hand. */
const GENERATED = [
  'How to run',
  'End to end',
  'The cost of the extension',
  'Text generation',
  'Cold, warm and in-memory loads',
  'Quantization time',
  "The seed's published table",
  'Running it on an NVIDIA machine',
  'Not measured',
];

/**
 * Sections written by hand into docs/benchmarks.md (e.g. "Kernels on a real GPU", from a device machine this
 * generator cannot reach) are carried over as they are, before "Not measured" (or at the end).
 */
export function keepWrittenSections(generated: string, previous: string): string {
  const sections = previous
    .split(/^(?=## )/m)
    .slice(1)
    .filter((sec) => !GENERATED.some((g) => sec.startsWith(`## ${g}`)));
  if (!sections.length) return generated;
  const kept = sections.map((sec) => `${sec.trimEnd()}\n\n`).join('');
  const at = generated.search(/^## Not measured/m);
  return at < 0 ? `${generated.trimEnd()}\n\n${kept}` : `${generated.slice(0, at)}${kept}${generated.slice(at)}`;
}
