#!/usr/bin/env node
/**
 * Kernel benchmark (not a test): builds bench/kernels/ with Vite, serves it on http://127.0.0.1 (WebGPU needs a
 * secure context), runs it in /usr/bin/chromium (WebGPU on SwiftShader unless --gpu) through playwright-core and
 * writes bench/results/kernels.json (webq GEMV/GEMM vs onnxruntime-web MatMulNBits, same device, same weights),
 * bench/results/kernels-quantize.json (GPU vs TypeScript quantization throughput) and bench/results/kernels.md.
 *
 *   node bench/kernels.mjs            small shapes, a few minutes on SwiftShader
 *   node bench/kernels.mjs --full     768x768 … 4096x11008 (slow on an emulated GPU)
 *   node bench/kernels.mjs --gpu      use the machine's GPU instead of SwiftShader
 *   node bench/kernels.mjs --smoke --out DIR   odd tiny shapes, one sample: the agreement check alone (the e2e test)
 *   --bits 4,8 / --kernels gemm   only these rows, without the quantization rows (for working on one kernel)
 *   --gemm '{"stage":false,"rowsPerThread":16}'   webq's GEMM at these options instead of the adapter's profile
 * Exits non-zero when anything fails or the two runtimes disagree, so a broken run never looks like a result.
 */
import { createReadStream, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { build } from 'vite';

const root = fileURLToPath(new URL('..', import.meta.url));
const full = process.argv.includes('--full');
const realGpu = process.argv.includes('--gpu');
const smoke = process.argv.includes('--smoke');
const outArg = process.argv.indexOf('--out');
const listArg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1].split(',') : undefined;
};
const onlyBits = listArg('bits')?.map(Number);
const onlyKernels = listArg('kernels');

const config = {
  shapes: smoke
    ? [[96, 80]]
    : full
      ? [
          [768, 768],
          [768, 3072],
          [3072, 768],
          [2048, 2048],
          [4096, 4096],
          [4096, 11008],
        ]
      : [
          [768, 768],
          [1024, 2048],
          // Qwen2.5-0.5B's MLP (gate/up), the one MLP shape SwiftShader runs in minutes with onnxruntime's 2-bit path
          [896, 4864],
        ],
  bits: [2, 4, 8].filter((b) => !onlyBits || onlyBits.includes(b)),
  kernels: [
    { kernel: 'gemv', M: 1 },
    { kernel: 'gemm', M: full ? 64 : smoke ? 5 : 16 },
  ].filter((k) => !onlyKernels || onlyKernels.includes(k.kernel)),
  blockSize: 32,
  quantize: !onlyBits && !onlyKernels,
  gemmOptions: process.argv.includes('--gemm')
    ? JSON.parse(process.argv[process.argv.indexOf('--gemm') + 1])
    : undefined,
  timing: smoke
    ? { warmup: 0, samples: 1, sampleMs: 0, maxIterations: 1 }
    : { warmup: 3, samples: full ? 7 : 5, sampleMs: 200, maxIterations: 50 },
  cpuTiming: { warmup: smoke ? 0 : 1, samples: smoke ? 1 : 3, sampleMs: 0, maxIterations: 1 },
};

const dist = join(root, 'bench/kernels/dist');
const ortDist = join(root, 'node_modules/onnxruntime-web/dist');
const TYPES = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
};

function serve() {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const [base, rel] = url.pathname.startsWith('/ort/')
      ? [ortDist, url.pathname.slice(5)]
      : [dist, url.pathname.slice(1) || 'index.html'];
    const file = normalize(join(base, decodeURIComponent(rel)));
    if (!file.startsWith(base) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const fmt = (x, d = 3) => (x >= 100 ? x.toFixed(1) : x.toPrecision(d));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function markdown(result, command, seconds) {
  const lines = [
    '# webq kernels vs onnxruntime-web MatMulNBits',
    '',
    `Adapter: **${result.adapter}** (features: ${result.features.join(', ') || 'none'}); onnxruntime-web ${result.ortVersion} WebGPU EP on the same GPUDevice, same packed weights (asymmetric, block ${config.blockSize}).`,
    `Command: \`${command}\` (${Math.round(seconds)} s, ${new Date().toISOString()}). Times are medians of ${config.timing.samples} samples, ms per call`,
    'including the per-call CPU cost (record + submit for webq, session.run with GPU-resident input/output for ORT), GPU work drained with onSubmittedWorkDone.',
    'ratio = ortMs / webqMs (> 1: webq faster).',
    '',
    '| kernel | bits | M | K | N | webq ms | ORT ms | ratio | max |Δ| |',
    '|---|---|---|---|---|---|---|---|---|',
    ...result.rows.map(
      (r) =>
        `| ${r.kernel} | ${r.bits} | ${r.M} | ${r.K} | ${r.N} | ${fmt(r.webqMs)} | ${fmt(r.ortMs)} | ${r.ratio.toFixed(2)} | ${r.maxAbsDiff.toExponential(1)} |`,
    ),
    '',
    `Median ratio: gemv ${median(result.rows.filter((r) => r.kernel === 'gemv').map((r) => r.ratio)).toFixed(2)}, gemm ${median(result.rows.filter((r) => r.kernel === 'gemm').map((r) => r.ratio)).toFixed(2)}.`,
    '',
    '## Quantization throughput (asymmetric, block 32; scale search on at 2 bits as by default)',
    '',
    'GPU = webq quantize kernel on weights already on the GPU; GPU+upload adds writing the fp32 weights; CPU = extension/quant TypeScript quantizer (main thread).',
    '',
    '| bits | K | N | search | GPU Mparam/s | GPU+upload Mparam/s | CPU Mparam/s | GPU/CPU |',
    '|---|---|---|---|---|---|---|---|',
    ...result.quant.map(
      (q) =>
        `| ${q.bits} | ${q.K} | ${q.N} | ${q.scaleSearch} | ${fmt(q.gpuParamsPerS / 1e6)} | ${fmt(q.gpuWithUploadParamsPerS / 1e6)} | ${fmt(q.cpuParamsPerS / 1e6)} | ${(q.gpuWithUploadParamsPerS / q.cpuParamsPerS).toFixed(1)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

async function main() {
  const started = Date.now();
  await build({ configFile: join(root, 'bench/kernels/vite.config.ts') });
  const server = await serve();
  const port = server.address().port;
  const gpuArgs = realGpu
    ? ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--ignore-gpu-blocklist']
    : [
        '--enable-unsafe-webgpu',
        '--enable-features=Vulkan',
        '--use-vulkan=swiftshader',
        '--use-webgpu-adapter=swiftshader',
      ];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      ...gpuArgs,
    ],
  });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => console.log(`[page] ${m.text()}`));
    page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
    await page.goto(`http://127.0.0.1:${port}/index.html`);
    await page.waitForFunction(() => window.webqBench?.ready === true, null, { timeout: 60_000 });
    const result = await page.evaluate((c) => window.webqBench.run(c), config);
    result.ortVersion = JSON.parse(
      (await import('node:fs')).readFileSync(join(root, 'node_modules/onnxruntime-web/package.json'), 'utf8'),
    ).version;
    const bad = result.rows.filter((r) => !(r.maxAbsDiff < 1e-3 * Math.sqrt(r.K)));
    const outDir = outArg > 0 ? process.argv[outArg + 1] : join(root, 'bench/results');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(
      join(outDir, 'kernels.json'),
      `${JSON.stringify(
        result.rows.map(({ kernel, bits, M, K, N, webqMs, ortMs, ratio, adapter, maxAbsDiff }) => ({
          kernel,
          bits,
          M,
          K,
          N,
          webqMs,
          ortMs,
          ratio,
          adapter,
          maxAbsDiff,
        })),
        null,
        2,
      )}\n`,
    );
    writeFileSync(join(outDir, 'kernels-quantize.json'), `${JSON.stringify(result.quant, null, 2)}\n`);
    const command = `node bench/kernels.mjs ${process.argv.slice(2).join(' ')}`.trim();
    writeFileSync(join(outDir, 'kernels.md'), markdown(result, command, (Date.now() - started) / 1000));
    console.log(markdown(result, command, (Date.now() - started) / 1000));
    if (bad.length) throw new Error(`webq and ORT disagree on ${bad.length} rows: ${JSON.stringify(bad)}`);
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
