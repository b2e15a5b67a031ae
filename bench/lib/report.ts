/**
 * docs/benchmarks.md and docs/img/bench-*.svg from one results file: every table and chart is the numbers of
 * that run, nothing typed in by hand except the seed's published figures (quoted as published, for comparison).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkloadId } from '../models/workloads.ts';
import { workload } from '../models/workloads.ts';
import type { BenchResults, EndToEndRow } from './schema.ts';
import { fmt } from './stats.ts';
import { barChart, type BarGroup } from './svg.ts';

const MB = (bytes: number) => bytes / 1e6;
const bitsLabel = (b: number) => (b === 32 ? 'fp32' : b === 16 ? 'fp16' : `${b}-bit`);

/** The seed guide's "Text Models (BERT-base)" table, as published (never measured by code). */
const SEED_BERT = [
  { browser: 'Chrome WebGPU', bits: 16, ms: 8.2, mb: 112 },
  { browser: 'Chrome WebGPU', bits: 8, ms: 6.5, mb: 76 },
  { browser: 'Chrome WebGPU', bits: 4, ms: 4.8, mb: 48 },
  { browser: 'Chrome WebGPU', bits: 2, ms: 3.7, mb: 36 },
  { browser: 'Edge WebNN', bits: 8, ms: 10.5, mb: 98 },
  { browser: 'Firefox WebGPU', bits: 4, ms: 5.2, mb: 49 },
] as const;

function endToEndSection(r: BenchResults, model: WorkloadId, img: (name: string, svg: string) => string): string[] {
  const rows = r.endToEnd.filter((e) => e.model === model);
  if (!rows.length) return [];
  const ocr = rows.some((e) => e.text !== undefined);
  const lines = [
    `### ${workload(model).label}`, '',
    `| browser | backend | precision | median ms | min–max ms | session.run ms | load ms | weights MB | reduction | cosine vs fp32 | ${ocr ? 'text' : 'max abs Δ'} |`,
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((e) => `| ${e.browser} | ${e.backend} | ${bitsLabel(e.bits)}${e.gotBits !== e.bits ? ` (ran ${bitsLabel(e.gotBits)})` : ''} | **${fmt(e.medianMs)}** | ${fmt(e.minMs)}–${fmt(e.maxMs)} | ${fmt(e.medianInferenceMs)} | ${fmt(e.loadMs)} | ${fmt(MB(e.modelBytes))} | ${e.memoryReductionPercent.toFixed(1)}% | ${e.cosine.toFixed(5)} | ${ocr ? `${e.textMatches ? '✓' : '✗'} "${e.text}"` : e.maxAbsDiff.toExponential(1)} |`),
    '',
  ];
  const browsers = [...new Set(rows.map((e) => `${e.browser} ${e.backend}`))];
  const bits = [...new Set(rows.map((e) => e.bits))].sort((a, b) => b - a);
  const groups: BarGroup[] = bits.map((b) => ({
    label: bitsLabel(b),
    values: browsers.map((s) => rows.find((e) => `${e.browser} ${e.backend}` === s && e.bits === b)?.medianMs ?? null),
  }));
  lines.push(img(`bench-latency-${model}`, barChart({ title: `${workload(model).label}: latency`, unit: 'median ms per call, page wall clock (lower is better)', series: browsers, groups })), '');
  return lines;
}

function hopsSection(r: BenchResults, img: (name: string, svg: string) => string): string[] {
  if (!r.hops.length) return [];
  const within = r.hops.filter((h) => h.withinGoal).length;
  return [
    '## The cost of the extension: webq vs onnxruntime-web in the page', '',
    'Same tab, same model bytes (quantized variants prepared by webq\'s own `prepareModel` in the baseline page),',
    'same onnxruntime-web build and session options; each round runs `webq.run` then the baseline\'s `session.run`',
    `(tensors made from the page's arrays, outputs read back), so drift hits both alike. ${r.runs} rounds after ${r.warmup} warm-up rounds`,
    '(Silero: every frame of the stream). Overhead = median webq − median baseline; goal: ≤ max(1 ms, 5 % of the baseline).',
    'The "session.run" columns are each runtime\'s own time around `session.run` (webq: in the engine host).', '',
    '| browser | model | backend | precision | webq ms | ORT-in-page ms | overhead ms | ratio | webq session.run | page session.run | goal ms | within goal |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...r.hops.map((h) => `| ${h.browser} | ${h.model} | ${h.backend} | ${bitsLabel(h.bits)} | ${fmt(h.webqMedianMs)} | ${fmt(h.ortMedianMs)} | ${fmt(h.overheadMs)} | ${h.ratio.toFixed(2)} | ${fmt(h.webqInferenceMedianMs)} | ${fmt(h.ortInferenceMedianMs)} | ${fmt(h.goalMs)} | ${h.withinGoal ? 'yes' : '**no**'} |`),
    '', `${within} of ${r.hops.length} comparisons are within the goal.`, '',
    img('bench-hops', barChart({
      title: 'webq through the extension vs onnxruntime-web in the page', unit: 'median ms per call (lower is better)',
      series: ['webq (extension)', 'onnxruntime-web in page'],
      groups: r.hops.map((h) => ({ label: `${h.browser === 'chromium' ? '' : `${h.browser} `}${h.model} ${h.backend} ${bitsLabel(h.bits)}`, values: [h.webqMedianMs, h.ortMedianMs] })),
    })), '',
  ];
}

function loadsSection(r: BenchResults, img: (name: string, svg: string) => string): string[] {
  if (!r.loads.length) return [];
  const keys = [...new Set(r.loads.map((l) => `${l.model} ${l.backend} ${bitsLabel(l.bits)}`))];
  const at = (k: string, kind: string) => r.loads.find((l) => `${l.model} ${l.backend} ${bitsLabel(l.bits)}` === k && l.kind === kind);
  return [
    '## Cold, warm and in-memory loads (Chromium)', '',
    '`webq.load` wall time in the page. Cold: a URL never seen (download from 127.0.0.1, quantization, IndexedDB write, session',
    'creation); warm: the same URL after `unload` (IndexedDB read, sha256 check, session creation; no network, no quantization);',
    `in-memory: \`load\` while loaded (the engine hands back the session). Medians of ${r.loads[0]!.samples} samples; phases are the`,
    'median time between the first and last progress event of each phase.', '',
    '| model | backend | precision | cold ms | warm ms | in-memory ms | cold phases | warm phases |', '|---|---|---|---|---|---|---|---|',
    ...keys.map((k) => {
      const [c, w, m] = [at(k, 'cold'), at(k, 'warm'), at(k, 'memory')];
      const ph = (p?: Record<string, number>) => Object.entries(p ?? {}).map(([n, v]) => `${n} ${fmt(v)}`).join(', ');
      return `| ${k.split(' ').join(' | ')} | ${fmt(c?.medianMs)} | ${fmt(w?.medianMs)} | ${fmt(m?.medianMs)} | ${ph(c?.phases)} | ${ph(w?.phases)} |`;
    }),
    '',
    img('bench-loads', barChart({ title: 'Load time: cold vs warm (IndexedDB) vs in memory', unit: 'median ms (lower is better)', series: ['cold', 'warm', 'in memory'],
      groups: keys.map((k) => ({ label: k, values: ['cold', 'warm', 'memory'].map((kind) => at(k, kind)?.medianMs ?? null) })) })), '',
  ];
}

function quantSection(r: BenchResults, root: string): string[] {
  const lines = ['## Quantization time', ''];
  if (r.quantization.length) {
    lines.push(
      'The TypeScript path: the engine\'s worker parses the model, rewrites every weight to the policy and serializes it; the',
      'time is the page-observed `quantize` phase of the first load of each variant (later loads read it from the cache),',
      'divided by all the model\'s weights (originalBytes / 4).', '',
      '| browser | model | precision | weights (M) | prepare ms | ms per M params |', '|---|---|---|---|---|---|',
      ...r.quantization.map((q) => `| ${q.browser} | ${q.model} | ${bitsLabel(q.bits)} | ${fmt(q.params / 1e6)} | ${fmt(q.prepareMs)} | ${fmt(q.msPerMParam)} |`), '');
  }
  const kq = join(root, 'bench/results/kernels-quantize.json');
  if (existsSync(kq)) {
    const rows = JSON.parse(readFileSync(kq, 'utf8')) as { bits: number; K: number; N: number; gpuWithUploadParamsPerS: number; cpuParamsPerS: number }[];
    lines.push('GPU kernels (webq\'s WGSL quantizer, not yet in the load path) vs the same TypeScript quantizer on bare matrices, from',
      '`npm run bench:kernels` (`node bench/kernels.mjs`, [bench/results/kernels.md](../bench/results/kernels.md)), converted to ms per M params:', '',
      '| bits | K×N | GPU incl. upload | TypeScript |', '|---|---|---|---|',
      ...rows.map((q) => `| ${q.bits} | ${q.K}×${q.N} | ${fmt(1e6 / q.gpuWithUploadParamsPerS * 1e3)} | ${fmt(1e6 / q.cpuParamsPerS * 1e3)} |`), '');
  }
  return lines;
}

function seedSection(r: BenchResults, img: (name: string, svg: string) => string): string[] {
  const bert = r.endToEnd.filter((e) => e.model === 'bert');
  const ours = (browser: string, backend: string, bits: number): EndToEndRow | undefined => bert.find((e) => e.browser === browser && e.backend === backend && e.bits === bits);
  const seedBackend = (b: string) => (b.includes('WebNN') ? 'webnn' : 'webgpu');
  const seedBrowser = (b: string) => (b.startsWith('Firefox') ? 'firefox' : b.startsWith('Edge') ? 'chromium-webnn' : 'chromium');
  const lines = [
    '## The seed\'s published table, reproduced as far as this machine allows', '',
    'The seed guide ("Performance Benchmarks") publishes BERT-base, ViT-base and Whisper-tiny latency and memory by precision.',
    'Those figures were never produced by code; ours are measured by this harness. **ViT-base and Whisper-tiny are not',
    'available offline here** (no npm package ships them), so only the BERT rows are reproduced, with the generated',
    'BERT-base-sized encoder (12 layers, hidden 768, 12 heads, FFN 3072, sequence 128, random weights; no embeddings).',
    'Their device is unnamed (a real GPU, judging by the numbers); ours is named in each row. "Memory" here = the weights',
    'as held (`modelBytes`: codes + scales for quantized weights, fp32 where onnxruntime folds fp16 back).', '',
    '| seed row | precision | seed ms | seed MB | our browser / backend | our device | our median ms | our weights MB | reduction |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of SEED_BERT) {
    const mine = ours(seedBrowser(s.browser), seedBackend(s.browser), s.bits);
    const wasm = ours('chromium', 'wasm', s.bits);
    const show = (e: EndToEndRow | undefined, label: string) => e
      ? `| ${s.browser} | ${bitsLabel(s.bits)} | ${s.ms} | ${s.mb} | ${label} | ${e.device} | **${fmt(e.medianMs)}** | ${fmt(MB(e.modelBytes))} | ${e.memoryReductionPercent.toFixed(1)}% |`
      : `| ${s.browser} | ${bitsLabel(s.bits)} | ${s.ms} | ${s.mb} | ${label} | — | not measured in this run | — | — |`;
    lines.push(show(mine, `${seedBrowser(s.browser)} ${seedBackend(s.browser)}`));
    if (s.browser === 'Chrome WebGPU') lines.push(show(wasm, 'chromium wasm (same model, CPU)'));
  }
  const fp32 = ours('chromium', 'wasm', 32);
  if (fp32) lines.push('', `Our fp32 reference: ${fmt(fp32.medianMs)} ms on wasm, ${fmt(MB(fp32.modelBytes))} MB of weights.`);
  lines.push('',
    'Why ours are slower by orders of magnitude: this machine has no GPU. "WebGPU" is SwiftShader (Vulkan emulated on 2 CPU',
    'cores) and wasm is one thread; the seed\'s 3.7–8.2 ms for BERT-base would need several TFLOP/s. The memory column is',
    `comparable in kind: our ${[8, 4, 2].map((b) => { const e = ours('chromium', 'wasm', b); return e ? `${b}-bit weights are ${fmt(100 - e.memoryReductionPercent)} %` : null; }).filter(Boolean).join(', ') || 'quantized weights are a fraction'} of fp32 (codes plus an fp32 scale per block), against the seed's 68/43/32 % of its fp16 figure.`, '');
  const bits = [32, 16, 8, 4, 2];
  lines.push(img('bench-seed-bert', barChart({
    title: 'BERT-base: weights held by precision (ours, measured) vs the seed\'s memory column', unit: 'MB (lower is better)',
    series: ['webq (measured)', 'seed guide (published)'],
    groups: bits.map((b) => ({ label: bitsLabel(b), values: [(ours('chromium', 'wasm', b) ?? ours('chromium', 'webgpu', b))?.modelBytes ?? null, SEED_BERT.find((s) => s.bits === b && s.browser === 'Chrome WebGPU')?.mb ?? null].map((v, i) => (v === null ? null : i === 0 ? MB(v) : v)) })),
  })), '');
  return lines;
}

function nvidiaSection(): string[] {
  return [
    '## Running it on an NVIDIA machine', '',
    'The same harness, with Chromium on the real GPU instead of SwiftShader:', '',
    '```sh',
    'apt-get install -y chromium firefox-esr mesa-vulkan-drivers espeak-ng imagemagick   # plus the NVIDIA driver with its Vulkan ICD',
    'npm ci && npm run build',
    'vulkaninfo --summary | grep -i nvidia        # the NVIDIA ICD must be listed (nvidia_icd.json)',
    'npm run bench -- --gpu --full                # or --gpu for the quick matrix',
    '```', '',
    '`--gpu` starts Chromium with `--enable-unsafe-webgpu --enable-features=Vulkan --use-angle=vulkan --ignore-gpu-blocklist`',
    'and none of the SwiftShader flags (`--use-vulkan=swiftshader`, `--use-webgpu-adapter=swiftshader`) — see',
    '`REAL_GPU_ARGS` in `bench/lib/browsers.ts`. Headless Chromium needs no display for WebGPU on Vulkan; if the adapter',
    'still reads `swiftshader` in the results\' browser table, the NVIDIA Vulkan ICD is not found (`VK_ICD_FILENAMES=',
    '/usr/share/vulkan/icd.d/nvidia_icd.json`). The device is named in every row, from `webq.capabilities()`, so a run on the wrong',
    'adapter is visible. The kernel benchmark takes the same switch: `node bench/kernels.mjs --gpu`.',
    'Firefox needs `dom.webgpu.enabled` (set by the launcher); on a real GPU it no longer needs `gfx.webgpu.ignore-blocklist`.', '',
  ];
}

export function renderMarkdown(r: BenchResults, root: string, writeImage: (name: string, svg: string) => string): string {
  const chromium = r.browsers.find((b) => b.name === 'chromium');
  const models = [...new Set(r.endToEnd.map((e) => e.model))];
  const lines = [
    '# Benchmarks', '',
    '<!-- generated by bench/run.ts from bench/results/bench-' + r.matrix + '.json; edit bench/lib/report.ts, not this file -->', '',
    `Generated by \`${r.command}\` on ${r.startedAt.slice(0, 10)} in ${Math.round(r.seconds)} s (matrix **${r.matrix}**).`,
    `Machine: ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB, ${r.machine.os}, Node ${r.machine.node}; onnxruntime-web ${r.ortVersion}.`,
    `Every figure is a median of ${r.runs} runs after ${r.warmup} warm-up runs (Silero VAD: per frame over a ${'40'}-frame stream), all`,
    'measured side by side in this one run. Benchmarks are tools: CI does not run them and no number fails anything.',
    ...(r.machine.loadAverage ? [`1-minute load average ${r.machine.loadAverage.start.toFixed(1)} at the start, ${r.machine.loadAverage.end.toFixed(1)} at the end${Math.max(r.machine.loadAverage.start, r.machine.loadAverage.end) > r.machine.cpus ? ` — above the ${r.machine.cpus} cores: other jobs shared the machine, so absolute times are inflated and noisy; the side-by-side comparisons (same run, interleaved) are the figures to trust` : ''}.`] : []),
    ...(r.notes ?? []), '',
    '| browser | version | WebGPU adapter (from `webq.capabilities()`) | emulated | WebNN | wasm threads | how |', '|---|---|---|---|---|---|---|',
    ...r.browsers.map((b) => `| ${b.name} | ${b.version} | ${b.adapter} | ${b.emulated ? 'yes' : 'no'} | ${b.webnn ? 'yes' : 'no'} | ${b.wasmThreads} | ${b.how} |`), '',
  ];
  if (chromium?.emulated) {
    lines.push('**No GPU on this machine**: WebGPU runs on SwiftShader (Chromium) / lavapipe (Firefox), i.e. on the same 2 CPU cores',
      'as wasm, so WebGPU numbers here say nothing about a real GPU; they show that the paths work and what they cost on a CPU.', '');
  }
  lines.push('## How to run', '', '```sh',
    'npm run build            # dist/chrome, dist/firefox, dist/harness (the bench needs them)',
    'npm run bench            # = npx tsx bench/run.ts --quick: this file + bench/results/bench-quick.json',
    'npm run bench -- --full  # every model × precision × backend in Chromium, Firefox and WebNN (long on SwiftShader)',
    'npm run bench -- --gpu   # Chromium on the real GPU (below)',
    'npm run bench:kernels    # webq\'s WGSL kernels vs onnxruntime-web MatMulNBits (bench/results/kernels.md)',
    '```', '',
    'Options: `--runs N`, `--no-firefox`, `--no-webnn`, `--no-docs`, `--out DIR`, `--report FILE` (re-render this page). The quick matrix: PP-OCRv4 rec and Silero VAD',
    '× {fp32, fp16, 8, 4, 2} on wasm and {fp32, 4} on WebGPU in Chromium; the BERT-base-sized encoder × all precisions on wasm only',
    '(WebGPU left to `--full`: SwiftShader already takes 5–28 s per PP-OCR call); Firefox with the two small models at fp32/4 on wasm; WebNN (@sparticuz/chromium,',
    'engine harness page) with the small models at fp32 and 8 bits (and wasm fp32 beside them). `--full` adds the rest. The smoke test',
    '(`tests/e2e/bench-smoke.test.ts`) runs a tiny matrix twice-sampled and checks the JSON, never the speed.', '',
    'Columns: *median ms* = page wall clock from `webq.run` to its result (what a site sees); *session.run ms* = the engine\'s',
    '`inferenceTimeMs`; *weights MB* = `modelBytes`; *reduction* = `memoryReductionPercent`; *cosine vs fp32* compares the output',
    'with the fp32 output of the same browser and backend (Silero: the per-frame speech probabilities); OCR also decodes the text.', '',
    '## End to end', '');
  for (const m of models) lines.push(...endToEndSection(r, m, writeImage));
  lines.push(...hopsSection(r, writeImage), ...loadsSection(r, writeImage), ...quantSection(r, root), ...seedSection(r, writeImage), ...nvidiaSection());
  if (r.skipped.length) {
    lines.push('## Not measured in this run', '', '| what | why |', '|---|---|', ...r.skipped.map((s) => `| ${s.what} | ${s.why.replace(/\|/g, '\\|')} |`), '');
  }
  return lines.join('\n');
}

export function writeReport(r: BenchResults, root: string): void {
  const imgDir = join(root, 'docs/img');
  mkdirSync(imgDir, { recursive: true });
  const writeImage = (name: string, svg: string) => {
    writeFileSync(join(imgDir, `${name}.svg`), svg);
    return `![${name}](img/${name}.svg)`;
  };
  writeFileSync(join(root, 'docs/benchmarks.md'), renderMarkdown(r, root, writeImage));
}


