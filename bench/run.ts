/**
 * `npm run bench` — webq end to end in real browsers, against onnxruntime-web used directly, written to
 * bench/results/bench-<matrix>.json and docs/benchmarks.md (+ docs/img/bench-*.svg).
 *
 *   npx tsx bench/run.ts              --quick (default): what fits in a few minutes on a 2-core, GPU-less machine
 *   npx tsx bench/run.ts --seed       the registry ids at the seed table's sizes (BERT-base, ViT-base, Whisper-tiny)
 * npx tsx bench/run.ts --full       every model × precision × backend, Firefox and WebNN included (slow on SwiftShader)
 *   npx tsx bench/run.ts --generation only the quick matrix's text-generation rows (webq vs transformers.js)
 *   npx tsx bench/run.ts --gpu        Chromium on the machine's real GPU (Vulkan) instead of SwiftShader
 *   options: --runs N, --no-firefox, --no-webnn, --browsers chromium,firefox,chromium-webnn, --no-docs, --out DIR,
 *            --models a,b --backends wasm,webgpu --bits 32,4 (a part of the matrix), --cell-timeout S,
 *            --report FILE (re-render the docs from a results file)
 *
 * Needs the built extension and harness (`npm run build`). Benchmarks are tools: a slow number never fails the
 * run; a browser that cannot start is recorded under `skipped` with its reason, and so is a cell that fails.
 */
import { execFileSync } from 'node:child_process';
import { register } from 'node:module';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { build } from 'vite';
import { BLANK_PAGE, startServer, type Route, type TestServer } from '../tools/server';
import { harnessRoutes } from '../tools/harness';
import { mirrorRepo } from '../tools/hub-mirror';
import { workload, type Workload, type WorkloadId } from './models/workloads';
import { genWorkload, type GenWorkload, type GenWorkloadId } from './models/generation';
import { openChromium, openFirefox, openWebnnHarness, type BenchPage } from './lib/browsers';
import {
  cellName,
  filterMatrix,
  genCellName,
  matrix as makeMatrix,
  type Cell,
  type CellFilter,
  type Matrix,
} from './lib/matrix';
import { endToEnd, generation, hops, loads, prepareInputs, TRANSFORMERS_ORT_PATH, type Context } from './lib/measure';
import { checkResults, type BenchResults, type BrowserEntry, type BrowserName } from './lib/schema';
import { writeReport } from './lib/report';

export interface BenchOptions {
  matrix: Matrix['name'];
  runs?: number;
  realGpu?: boolean;
  browsers?: BrowserName[];
  /** run only these models / backends / precisions of the matrix */
  only?: CellFilter;
  /** seconds a cell may take before it is given up (default: the matrix's) */
  cellTimeoutS?: number;
  /**
   * wasm threads of the page's baselines, instead of the engine host's count (a probe: on 2 cores a baseline's
   * threads still winding down slow the next webq call of a side-by-side row; docs/architecture.md)
   */
  baselineThreads?: number;
  outDir?: string;
  /** write docs/benchmarks.md and docs/img/ (the smoke test does not) */
  docs?: boolean;
  command?: string;
  log?: (line: string) => void;
}

const ROOT = resolve(import.meta.dirname ?? '.', '..');

class CellTimeout extends Error {}
const PAGE_DIST = join(ROOT, 'bench/page/dist');

/** Every file of a built folder as a server route under `prefix`. */
function routesOf(dir: string, prefix: string): Record<string, Route> {
  const routes: Record<string, Route> = {};
  for (const [path, file] of Object.entries(harnessRoutes(dir))) routes[`${prefix}${path}`] = file;
  return routes;
}

/**
 * The .wasm/.mjs files of the onnxruntime-web build transformers.js depends on (not the project's own onnxruntime-web:
 * transformers.js pins another version), served for its `wasmPaths`.
 */
function transformersOrtRoutes(): Record<string, Route> {
  const require = createRequire(import.meta.url);
  const fromTransformers = createRequire(require.resolve('@huggingface/transformers'));
  const dist = dirname(fromTransformers.resolve('onnxruntime-web'));
  const routes: Record<string, Route> = {};
  for (const file of readdirSync(dist))
    if (/^ort-wasm.*\.(wasm|mjs)$/.test(file)) routes[`${TRANSFORMERS_ORT_PATH}${file}`] = join(dist, file);
  return routes;
}

/** Browsers with something to run in the matrix. */
const browsersOf = (m: Matrix): BrowserName[] =>
  (['chromium', 'firefox', 'chromium-webnn'] as BrowserName[]).filter(
    (b) => m.cells[b].length > 0 || (b !== 'chromium-webnn' && m.generation[b].length > 0),
  );

/** The driver module's URL inside the built bench page (its file name carries a content hash). */
function driverPath(): string {
  const html = readFileSync(join(PAGE_DIST, 'index.html'), 'utf8');
  const src = html.match(/<script[^>]+src="\.\/([^"]+)"/)?.[1];
  if (!src) throw new Error('bench/page/dist/index.html has no module script');
  return `/bench/${src}`;
}

async function openBrowser(name: BrowserName, server: TestServer, realGpu: boolean): Promise<BenchPage> {
  const pageUrl = `${server.origin}/bench/index.html`;
  if (name === 'chromium') return openChromium(pageUrl, realGpu);
  if (name === 'firefox') return openFirefox(pageUrl);
  return openWebnnHarness(`${server.origin}/`, `${server.origin}${driverPath()}`);
}

async function describeBrowser(page: BenchPage): Promise<{ entry: BrowserEntry; adapter: string; threads: number }> {
  const caps = (await page.call('capabilities')) as {
    webgpu: {
      available: boolean;
      reason?: string;
      adapter?: { vendor: string; architecture: string; description: string; emulated: boolean };
    };
    webnn: { available: boolean };
    wasm: { threads: number };
  };
  const a = caps.webgpu.adapter;
  // Firefox hands back empty adapter info strings (lavapipe here): say so rather than leave the device unnamed.
  const named = a ? [a.vendor, a.architecture, a.description].filter(Boolean).join(' / ') : '';
  const adapter = !a
    ? `no WebGPU (${caps.webgpu.reason ?? 'unknown'})`
    : named || `unnamed adapter (the browser reports empty adapter info; emulated: ${a.emulated})`;
  return {
    entry: {
      name: page.name,
      version: page.version,
      adapter,
      emulated: a?.emulated ?? false,
      webnn: caps.webnn.available,
      wasmThreads: caps.wasm.threads,
      how: page.how,
    },
    adapter,
    threads: caps.wasm.threads,
  };
}

/** fp32 first within each model/backend: it is the reference the other precisions are compared with. */
function ordered(cells: Cell[]): Cell[] {
  const firstAt = new Map<string, number>();
  cells.forEach((c, i) => {
    if (!firstAt.has(`${c.model}/${c.backend}`)) firstAt.set(`${c.model}/${c.backend}`, i);
  });
  // Stable: a group's fp32 cell moves to where the group first appears; everything else keeps the matrix order.
  return cells
    .map((c, i) => ({ c, at: c.bits === 32 && !c.embeddings ? firstAt.get(`${c.model}/${c.backend}`)! - 0.5 : i }))
    .sort((a, b) => a.at - b.at)
    .map((x) => x.c);
}

export async function runBench(options: BenchOptions): Promise<BenchResults> {
  const started = Date.now();
  const log = options.log ?? ((line: string) => console.log(line));
  const m = filterMatrix(makeMatrix(options.matrix, options.runs), options.only ?? {});
  const browsers = options.browsers ?? browsersOf(m);
  await build({ configFile: join(ROOT, 'bench/page/vite.config.ts') });

  const models = new Map<WorkloadId, Workload>();
  const used = new Set<WorkloadId>([...browsers.flatMap((b) => m.cells[b]), ...m.hops, ...m.loads].map((c) => c.model));
  const routes: Record<string, Route> = { ...routesOf(PAGE_DIST, '/bench'), '/blank.html': BLANK_PAGE() };
  if (browsers.includes('chromium-webnn')) Object.assign(routes, harnessRoutes());
  for (const id of used) {
    const w = workload(id);
    models.set(id, w);
    if (w.kind === 'raw') routes[w.path] = w.bytes();
  }
  const genModels = new Map<GenWorkloadId, GenWorkload>();
  for (const c of [...m.generation.chromium, ...m.generation.firefox]) genModels.set(c.model, genWorkload(c.model));
  if (genModels.size) Object.assign(routes, transformersOrtRoutes());
  // Cross-origin isolated, so the baseline page runs wasm on as many threads as the (isolated) engine host.
  const server = await startServer(routes, 0, { isolated: true });
  // Registry ids: their repos on a mirror of the model host, in the hub's layout (the seed builds take seconds each).
  for (const w of models.values()) {
    if (w.kind !== 'task') continue;
    const t = Date.now();
    mirrorRepo(server, w.mirror, w.repo, await w.files());
    log(`mirrored ${w.repo} (${w.build} build) under ${w.mirror} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  for (const w of genModels.values()) {
    const t = Date.now();
    mirrorRepo(server, w.mirror, w.repo, await w.files());
    log(
      `mirrored ${w.repo} (generation, ${w.build} build) under ${w.mirror} in ${((Date.now() - t) / 1000).toFixed(1)} s`,
    );
  }
  const results: BenchResults = {
    schema: 'webq-bench/1',
    matrix: m.name,
    command: options.command ?? `npx tsx bench/run.ts --${m.name}`,
    startedAt: new Date(started).toISOString(),
    seconds: 0,
    runs: m.runs,
    warmup: m.warmup,
    warmupMs: m.warmupMs,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      os: `${platform()} ${release()}`,
      node: process.version,
      loadAverage: { start: loadavg()[0]!, end: 0 },
    },
    ortVersion: JSON.parse(readFileSync(join(ROOT, 'node_modules/onnxruntime-web/package.json'), 'utf8')).version,
    browsers: [],
    endToEnd: [],
    hops: [],
    loads: [],
    quantization: [],
    generation: [],
    skipped: [],
  };
  // A cell that never answers (a WebNN 8-bit PP-OCR once left the single-process browser idle and silent) would stall
  // the run: past the limit it is recorded, the browser is closed, and its remaining cells are skipped.
  const limitS = options.cellTimeoutS ?? m.cellTimeoutS;
  let stalled: string | null = null;
  const attempt = async <T>(what: string, fn: () => Promise<T>, browser?: BrowserName): Promise<T | undefined> => {
    const load = results.machine.loadAverage!;
    load.min = Math.min(load.min ?? Infinity, loadavg()[0]!);
    load.max = Math.max(load.max ?? 0, loadavg()[0]!);
    if (stalled) {
      results.skipped.push({
        what,
        why: `not run: ${stalled} timed out and the browser was closed`,
        ...(browser ? { browser } : {}),
      });
      return undefined;
    }
    const t = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new CellTimeout(`no answer within ${limitS} s (--cell-timeout)`)),
          limitS * 1000,
        );
      });
      const r = await Promise.race([fn(), limit]);
      log(`  ${what}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
      return r;
    } catch (err) {
      const why = (err as Error).message.split('\n')[0]!.slice(0, 300);
      log(`  ${what}: FAILED ${why}`);
      results.skipped.push({ what, why, ...(browser ? { browser } : {}) });
      if (err instanceof CellTimeout) stalled = what;
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };

  try {
    for (const name of browsers) {
      log(`${name}:`);
      stalled = null;
      const page = await attempt(`${name}: launch`, () => openBrowser(name, server, options.realGpu ?? false));
      if (!page) continue;
      try {
        const { entry, adapter, threads } = await describeBrowser(page);
        // The baselines in the page run the engine's thread count, so that the comparison is of webq's path around
        // the runtime, not of threads (Firefox's engine runs one; the isolated bench page could run every core).
        entry.baselineThreads = await page.call('setBaselineThreads', options.baselineThreads ?? threads);
        results.browsers.push(entry);
        log(`  ${entry.version}; WebGPU adapter: ${adapter}; WebNN: ${entry.webnn}`);
        const ctx: Context = {
          page,
          origin: server.origin,
          runs: m.runs,
          warmup: m.warmup,
          warmupMs: m.warmupMs,
          adapter,
          wasmThreads: threads,
          references: new Map(),
          runId: `${started}`,
          modelHost: null,
        };
        const prepared = new Set<WorkloadId>();
        const inputs = async (w: Workload) => {
          if (!prepared.has(w.id)) {
            await prepareInputs(page, w);
            prepared.add(w.id);
          }
        };
        for (const cell of ordered(m.cells[name])) {
          const w = models.get(cell.model)!;
          const row = await attempt(
            cellName(cell),
            async () => {
              await inputs(w);
              return endToEnd(ctx, w, cell);
            },
            name,
          );
          if (row) {
            results.endToEnd.push(row.row);
            if (row.quant) results.quantization.push(row.quant);
          }
        }
        if (name !== 'chromium-webnn') {
          for (const cell of m.hops) {
            const w = models.get(cell.model)!;
            const row = await attempt(`hops ${cell.model} ${cell.backend} ${cell.bits}-bit`, async () => {
              await inputs(w);
              return hops(ctx, w, cell);
            });
            if (row) results.hops.push(row);
          }
        }
        if (name !== 'chromium-webnn') {
          for (const cell of m.generation[name]) {
            const row = await attempt(
              genCellName(cell),
              () => generation(ctx, genModels.get(cell.model)!, cell, cell.newTokens ?? m.newTokens),
              name,
            );
            if (row) results.generation!.push(row);
          }
        }
        if (name === 'chromium') {
          for (const cell of m.loads) {
            const rows = await attempt(`loads ${cell.model} ${cell.backend} ${cell.bits}-bit`, () =>
              loads(ctx, models.get(cell.model)!, cell, m.loadSamples),
            );
            if (rows) results.loads.push(...rows);
          }
        }
      } finally {
        await page.close().catch(() => undefined);
      }
    }
  } finally {
    await server.close();
  }
  results.seconds = (Date.now() - started) / 1000;
  results.machine.loadAverage!.end = loadavg()[0]!;
  const problems = checkResults(results);
  if (problems.length) log(`results have problems:\n  ${problems.join('\n  ')}`);
  const outDir = options.outDir ?? join(ROOT, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, `bench-${m.name}.json`), `${JSON.stringify(results, null, 2)}\n`);
  if (options.docs ?? true) writeReport(results, ROOT);
  log(`done in ${results.seconds.toFixed(0)} s → ${join(outDir, `bench-${m.name}.json`)}`);
  return results;
}

function parseArgs(argv: string[]): BenchOptions {
  const has = (f: string) => argv.includes(f);
  const value = (f: string) => {
    const i = argv.indexOf(f);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const matrix: Matrix['name'] = has('--full')
    ? 'full'
    : has('--seed')
      ? 'seed'
      : has('--smoke')
        ? 'smoke'
        : has('--generation')
          ? 'generation'
          : 'quick';
  const list = (f: string) => value(f)?.split(',').filter(Boolean);
  const only: CellFilter = {
    models: list('--models'),
    backends: list('--backends'),
    bits: list('--bits')?.map(Number),
  };
  const m = filterMatrix(makeMatrix(matrix), only);
  const browsers = browsersOf(m)
    .filter((b) => !(b === 'firefox' && has('--no-firefox')) && !(b === 'chromium-webnn' && has('--no-webnn')))
    .filter((b) => !value('--browsers') || value('--browsers')!.split(',').includes(b));
  const runs = value('--runs');
  const cellTimeout = value('--cell-timeout');
  const baselineThreads = value('--baseline-threads');
  return {
    ...(cellTimeout ? { cellTimeoutS: Number(cellTimeout) } : {}),
    ...(baselineThreads ? { baselineThreads: Number(baselineThreads) } : {}),
    matrix,
    browsers,
    only,
    realGpu: has('--gpu'),
    docs: !has('--no-docs'),
    outDir: value('--out'),
    ...(runs ? { runs: Number(runs) } : {}),
    command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // Before any generated hub model is imported (they import onnx-proto by name; see bench/lib/esm-hooks.mjs).
  register('./lib/esm-hooks.mjs', import.meta.url);
  if (!existsSync(join(ROOT, 'dist/chrome/manifest.json'))) {
    console.error('dist/chrome is missing: run `npm run build` first');
    process.exit(1);
  }
  const report = process.argv.indexOf('--report');
  if (report >= 0) {
    // Re-render docs/benchmarks.md from a results file (after editing bench/lib/report.ts), without measuring.
    writeReport(JSON.parse(readFileSync(process.argv[report + 1]!, 'utf8')) as BenchResults, ROOT);
    process.exit(0);
  }
  const opts = parseArgs(process.argv.slice(2));
  if (opts.browsers?.includes('chromium-webnn') && !existsSync(join(ROOT, 'dist/harness/index.html'))) {
    execFileSync('npx', ['vite', 'build', '--mode', 'harness', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
  }
  runBench(opts).then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
