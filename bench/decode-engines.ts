/**
 * webq's own decode engine against onnxruntime-web's WebGPU EP, on the same model, the same quantized weights and the
 * same adapter, side by side in one run: the extension in Chromium (SwiftShader) or Firefox (`--browser firefox`:
 * lavapipe), a page calling `webq.run` with `engine: 'webq'` and `engine: 'ort'` in alternating order (each round
 * starts with the other engine), greedy, tokens checked equal. Both engines read the same cached, prepared graph (the
 * native one reads its MatMulNBits bytes).
 *
 *   npx tsx bench/decode-engines.ts [--browser chromium|firefox] [--rounds 5] [--tokens 32] [--build bench|test]
 *     [--bits 4] [--models llama,qwen2]
 *
 * Models: the generation bench's generated Llama- and Qwen2-shaped builds (bench/models/generation.ts; `bench`:
 * 4 layers × 256 over the full vocabularies). Reports medians of decode and prefill tokens/s and time to first token
 * from the engine's own metrics, their ratios (webq / ort), and the adapter; writes bench/results/decode-engines.json
 * (Firefox: decode-engines-firefox.json). Needs `npm run build`.
 */
import { register } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import type { Evaluator } from './lib/browsers';

register('./lib/esm-hooks.mjs', import.meta.url);
const { findFirefoxPage, launchChromium, launchFirefox, openWithConsent, openWithConsentFirefox } =
  await import('../tools/browsers');
// Not tools/browsers' saveModelHost: its page function names helpers, which tsx wraps in a `__name` Firefox lacks.
const { saveModelHost } = await import('./lib/browsers');
const { BLANK_PAGE, startServer } = await import('../tools/server');
const { mirrorRepo } = await import('../tools/hub-mirror');
const { genWorkload, GEN_BENCH_BUILDS, GEN_TEST_BUILDS } = await import('./models/generation');
const { median } = await import('./lib/stats');

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    tokens: { type: 'string', default: '32' },
    build: { type: 'string', default: 'bench' },
    bits: { type: 'string', default: '4' },
    models: { type: 'string' },
    browser: { type: 'string', default: 'chromium' },
  },
});
const browserName = values.browser;
if (browserName !== 'chromium' && browserName !== 'firefox') throw new Error('--browser: chromium or firefox');
const rounds = Number(values.rounds);
const maxNewTokens = Number(values.tokens);
const bits = Number(values.bits);
const builds = (values.build === 'test' ? GEN_TEST_BUILDS : GEN_BENCH_BUILDS).filter(
  (id) => !values.models || values.models.split(',').some((m) => id.startsWith(m)),
);
const ENGINES = ['webq', 'ort'] as const;

interface Sample {
  tokens: number[];
  decode: number;
  prefill: number;
  firstToken: number;
  fallbacks: string[];
}

const server = await startServer({ '/page.html': BLANK_PAGE() });
const workloads = builds.map((id) => genWorkload(id));
for (const w of workloads) mirrorRepo(server, w.mirror, w.repo, await w.files());
function save(): void {
  mkdirSync('bench/results', { recursive: true });
  const command = `npx tsx bench/decode-engines.ts ${process.argv.slice(2).join(' ')}`.trim();
  writeFileSync(
    `bench/results/decode-engines${browserName === 'firefox' ? '-firefox' : ''}.json`,
    JSON.stringify(
      { command, browser: opened.version, date: new Date().toISOString(), cores: cpus().length, rows },
      null,
      2,
    ) + '\n',
  );
}

interface Opened {
  page: Evaluator;
  version: string;
  /** The options page's model host field, saved as a person saves it. */
  setModelHost(url: string): Promise<void>;
  close(): Promise<void>;
}

async function openChromium(): Promise<Opened> {
  const browser = await launchChromium();
  // tsx names functions with an `__name` helper that does not exist in the pages they are evaluated in.
  await browser.context.addInitScript({ content: 'globalThis.__name = (f) => f;' });
  const page = await openWithConsent(browser.context, `${server.origin}/page.html`);
  return {
    page,
    version: `Chromium ${browser.context.browser()?.version() ?? ''}`.trim(),
    setModelHost: async (url) => {
      const options = await browser.context.newPage();
      await options.goto(`chrome-extension://${browser.extensionId}/options/options.html`);
      await saveModelHost(options, url);
      await options.close();
    },
    close: () => browser.close(),
  };
}

async function openFirefox(): Promise<Opened> {
  // Firefox rounds performance.now() to whole milliseconds otherwise, in the page and in the engine host alike.
  const ff = await launchFirefox({ prefs: { 'privacy.reduceTimerPrecision': false } });
  // BiDi may not navigate to moz-extension URLs: the prompt opens the options page, which is then kept.
  const page = await openWithConsentFirefox(ff.browser, `${server.origin}/page.html`, 'allow', [
    '/options/options.html',
  ]);
  return {
    page: page as unknown as Evaluator,
    version: `Firefox ${(await ff.browser.version()).replace(/^firefox\//, '')}`,
    setModelHost: async (url) =>
      saveModelHost((await findFirefoxPage(ff.browser, '/options/options.html')) as unknown as Evaluator, url),
    close: () => ff.close(),
  };
}

const opened = browserName === 'firefox' ? await openFirefox() : await openChromium();
const { page } = opened;
const rows: Record<string, unknown>[] = [];
try {
  const adapter =
    (await page.evaluate(
      () =>
        (window as any).webq
          .capabilities()
          .then((c: any) =>
            [c.webgpu.adapter?.vendor, c.webgpu.adapter?.architecture, c.webgpu.adapter?.description]
              .filter(Boolean)
              .join(' '),
          ),
      null,
    )) || '(the browser names no adapter)';
  for (const w of workloads) {
    await opened.setModelHost(`${server.origin}${w.mirror}`);
    const run = (engine: string) =>
      page.evaluate(
        async ({ model, messages, engine, maxNewTokens, bits }) => {
          const r = await (window as any).webq.run(
            model,
            { messages },
            { backend: 'webgpu', bits, engine, maxNewTokens },
          );
          const m = r.performanceMetrics;
          return {
            tokens: r.output.tokens,
            decode: m.decodeTokensPerSecond,
            prefill: m.prefillTokensPerSecond,
            firstToken: m.timeToFirstTokenMs,
            fallbacks: m.fallbacks,
          };
        },
        { model: w.model, messages: w.messages, engine, maxNewTokens, bits },
      ) as Promise<Sample>;
    for (const engine of ENGINES) await run(engine); // load, compile, warm
    const samples: Record<string, Sample[]> = { webq: [], ort: [] };
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ENGINES : [...ENGINES].reverse();
      for (const engine of order) samples[engine]!.push(await run(engine));
    }
    const same = [...samples.webq!, ...samples.ort!].every(
      (s) => JSON.stringify(s.tokens) === JSON.stringify(samples.ort![0]!.tokens),
    );
    const med = (engine: string, k: 'decode' | 'prefill' | 'firstToken') => median(samples[engine]!.map((s) => s[k]));
    const row = {
      model: w.id,
      label: w.label,
      bits,
      adapter,
      rounds,
      newTokens: samples.ort![0]!.tokens.length,
      sameTokens: same,
      webq: { decode: med('webq', 'decode'), prefill: med('webq', 'prefill'), firstTokenMs: med('webq', 'firstToken') },
      ort: { decode: med('ort', 'decode'), prefill: med('ort', 'prefill'), firstTokenMs: med('ort', 'firstToken') },
    };
    rows.push({
      ...row,
      ratio: {
        decode: row.webq.decode / row.ort.decode,
        prefill: row.webq.prefill / row.ort.prefill,
        firstToken: row.ort.firstTokenMs / row.webq.firstTokenMs,
      },
    });
    console.log(JSON.stringify(rows[rows.length - 1]));
    save(); // a row is kept even if a later one does not finish
  }
} finally {
  await opened.close();
  await server.close();
}

const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
console.log(
  `\n${opened.version}, WebGPU adapter: ${String(rows[0]?.adapter)}; ${cpus().length} CPU cores; ${rounds} rounds`,
);
console.log('| model | bits | decode tok/s webq | ort | ratio | prefill tok/s webq | ort | ratio | same tokens |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows as any[])
  console.log(
    `| ${r.model} | ${r.bits} | ${f(r.webq.decode)} | ${f(r.ort.decode)} | ${r.ratio.decode.toFixed(2)} | ` +
      `${f(r.webq.prefill)} | ${f(r.ort.prefill)} | ${r.ratio.prefill.toFixed(2)} | ${r.sameTokens} |`,
  );
if (rows.some((r) => !r.sameTokens)) {
  console.error('the engines gave different tokens');
  process.exitCode = 1;
}
