/**
 * What one call costs outside inference with the extension (issue 17: "the extension's own cost ≤ 1 ms per call").
 *
 * Chromium (default): three ways side by side in one run, one build:
 *  - `channel`: Chrome's direct path (shared/direct.ts: bridge → offscreen document) with its MessageChannel
 *    (shared/channel-port.ts), as pages get it;
 *  - `direct port`: the direct path on its runtime port (a page opened while the worker's `webqChannelRelay` hook
 *    was off, so its port never got a channel);
 *  - `router`: every request through the service worker's router (the worker's `webqDirectPath` hook off).
 * Firefox (`--browser firefox`): the page port (bridge → background page, router and engine host in one) two ways:
 *  - `channel`: on its MessageChannel (shared/channel-port.ts), as pages get it;
 *  - `runtime port`: a page that removes every frame as it appears, so that its bridge's channel frame never loads.
 * Firefox runs with `privacy.reduceTimerPrecision` off, so that it times in microseconds, not whole milliseconds.
 *
 * Workloads: `webq.capabilities()` (no inference), an Identity model on `--floats` floats (inference ~0.2 ms) and one
 * Silero VAD frame (512 samples, ~1–2 ms of inference), both raw models on wasm from a local URL. Per call:
 * wall = the page's time around the call; outside = wall − performanceMetrics.inferenceTimeMs (the engine's own
 * time around session.run). Blocks of calls alternate between the paths, after a warm-up of both long enough for
 * V8 to finish compiling onnxruntime's wasm in the engine host (measured here: per-call times settle only after
 * ~3–4 s of calls; before that, background compilation on a 2-core machine slows every hop). Medians and quartiles.
 *
 *   npm run build && npx tsx bench/call-overhead.ts [--browser chromium|firefox] [--calls 400] [--warmup-ms 6000]
 *     [--block 20] [--out bench/results/call-overhead.json]
 */
import { register } from 'node:module';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { launchChromium, launchFirefox, openWithConsent, openWithConsentFirefox } from '../tools/browsers';
import { MODELS } from '../tools/fixtures';
import { BLANK_PAGE, startServer } from '../tools/server';

register('./lib/esm-hooks.mjs', import.meta.url);
const { identityModel } = await import('../tests/support/onnx-models');

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '400' },
    'warmup-ms': { type: 'string', default: '6000' },
    block: { type: 'string', default: '20' },
    /** Floats in and out of the Identity model (768 by default: a small call; 262144 is 1 MiB each way). */
    floats: { type: 'string', default: '768' },
    browser: { type: 'string', default: 'chromium' },
    out: { type: 'string' },
  },
});
const browserName = values.browser;
if (browserName !== 'chromium' && browserName !== 'firefox') throw new Error('--browser: chromium or firefox');
const out = values.out ?? `bench/results/call-overhead${browserName === 'firefox' ? '-firefox' : ''}.json`;
const calls = Number(values.calls);
const warmupMs = Number(values['warmup-ms']);
const block = Number(values.block);
const floats = Number(values.floats);

type Path = 'channel' | 'direct port' | 'router' | 'runtime port';
type Workload = 'capabilities' | 'identity' | 'silero';
const WORKLOADS: Workload[] = ['capabilities', 'identity', 'silero'];

const quartiles = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => +s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(2);
  return { p25: at(0.25), median: at(0.5), p75: at(0.75) };
};

const server = await startServer({
  '/page.html': BLANK_PAGE(),
  '/identity.onnx': identityModel('float32'),
  '/silero.onnx': MODELS.sileroVad,
});
/** The page side: one function per workload, kept in the page; a string, so tsx's __name never reaches the page. */
const PAGE_SETUP = `(async (origin) => {
    const webq = window.webq;
    const identity = origin + '/identity.onnx', silero = origin + '/silero.onnx';
    await webq.load(identity, { backend: 'wasm' });
    await webq.load(silero, { backend: 'wasm' });
    const timed = async (call) => {
      const t = performance.now();
      const r = await call();
      const wall = performance.now() - t;
      return { wall, inference: r ? r.performanceMetrics.inferenceTimeMs : 0 };
    };
    window.__calls = {
      capabilities: () => timed(() => webq.capabilities().then(() => null)),
      identity: () => timed(() => webq.run(identity, { x: { type: 'float32', dims: [${floats}], data: new Float32Array(${floats}) } }, { backend: 'wasm' })),
      silero: () => timed(() => webq.run(silero, {
        input: { type: 'float32', dims: [1, 512], data: new Float32Array(512).map((_, i) => Math.sin(i / 9) * 0.3) },
        state: { type: 'float32', dims: [2, 1, 128], data: new Float32Array(256) },
        sr: { type: 'int64', dims: [], data: new BigInt64Array([16000n]) },
      }, { backend: 'wasm' })),
    };
    window.__series = async (name, count) => {
      const out = [];
      for (let i = 0; i < count; i++) out.push(await window.__calls[name]());
      return out;
    };
    window.__warm = async (ms) => {
      const end = performance.now() + ms;
      while (performance.now() < end) for (const name of ['identity', 'silero', 'capabilities']) await window.__calls[name]();
    };
  })(${JSON.stringify(server.origin)})`;

/** A page of either driver (Playwright or Puppeteer), evaluated with strings only. */
interface Evaluator {
  evaluate(expression: string): Promise<unknown>;
}

/** One browser with its pages set up: the paths it has, the page each path is timed from, and how to switch to it. */
interface Setup {
  paths: Path[];
  pageFor(path: Path): Evaluator;
  usePath(path: Path): Promise<void>;
  /** Called once the warm-up is done. */
  warmedUp(): Promise<void>;
  version: string;
  how: string;
  close(): Promise<void>;
}

async function chromiumSetup(): Promise<Setup> {
  const chromium = await launchChromium();
  const worker = chromium.context.serviceWorkers()[0]!;
  const usePath = (path: Path): Promise<void> =>
    worker.evaluate((on) => {
      const g = globalThis as unknown as { webqDirectPath: boolean; webqRevokeGrants: () => void };
      g.webqDirectPath = on;
      g.webqRevokeGrants(); // bridges in direct mode are sent back to the router once, then follow the hook
    }, path !== 'router');
  const relayChannels = (on: boolean) =>
    worker.evaluate((on) => ((globalThis as unknown as { webqChannelRelay: boolean }).webqChannelRelay = on), on);
  // Two pages of one origin: the first gets its channel; the second opens its direct port with the relay off.
  const withChannel = await openWithConsent(chromium.context, `${server.origin}/page.html`);
  const openDirectPort = (page: typeof withChannel) =>
    page.evaluate(
      '(async () => { for (let i = 0; i < 3; i++) await window.webq.capabilities(); await new Promise((r) => setTimeout(r, 1000)); })()',
    );
  await openDirectPort(withChannel);
  await relayChannels(false);
  const onPort = await chromium.context.newPage();
  await onPort.goto(`${server.origin}/page.html?port`);
  await openDirectPort(onPort);
  for (const page of [withChannel, onPort]) await page.evaluate(PAGE_SETUP);
  const version = await withChannel.evaluate(() => navigator.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? 'Chromium');
  return {
    paths: ['channel', 'direct port', 'router'],
    pageFor: (path) => (path === 'channel' ? withChannel : onPort),
    usePath,
    warmedUp: async () => {
      await relayChannels(true);
    },
    version,
    how: 'headless, extension from dist/chrome',
    close: () => chromium.close(),
  };
}

/** A page script that removes every frame as it appears: the bridge's channel frame never loads, so no channel. */
const FRAME_KILLER = `new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) if (n instanceof HTMLIFrameElement) n.remove();
  }).observe(document.documentElement, { childList: true, subtree: true })`;

async function firefoxSetup(): Promise<Setup> {
  const firefox = await launchFirefox({ prefs: { 'privacy.reduceTimerPrecision': false } });
  // Two pages of one origin: the first gets its channel, the second removes the channel frame and keeps its port.
  const withChannel = await openWithConsentFirefox(firefox.browser, `${server.origin}/page.html`);
  const onPort = await firefox.browser.newPage();
  await onPort.goto(`${server.origin}/page.html?port`);
  await onPort.evaluate(FRAME_KILLER);
  for (const page of [withChannel, onPort]) await page.evaluate(PAGE_SETUP);
  const version = (await withChannel.evaluate(
    `navigator.userAgent.match(/Firefox\\/[\\d.]+/)?.[0] ?? 'Firefox'`,
  )) as string;
  return {
    paths: ['channel', 'runtime port'],
    pageFor: (path) => (path === 'channel' ? withChannel : onPort),
    usePath: async () => {},
    warmedUp: async () => {},
    version,
    how: 'headless, extension from dist/firefox, privacy.reduceTimerPrecision off',
    close: () => firefox.close(),
  };
}

const setup = browserName === 'firefox' ? await firefoxSetup() : await chromiumSetup();
const PATHS = setup.paths;
try {
  const { pageFor, usePath } = setup;
  for (const path of PATHS) {
    await usePath(path);
    await pageFor(path).evaluate(`window.__warm(${warmupMs / PATHS.length})`);
  }
  await setup.warmedUp();
  const samples = Object.fromEntries(
    PATHS.map((p) => [p, { capabilities: [], identity: [], silero: [] }]),
  ) as unknown as Record<Path, Record<Workload, { wall: number; inference: number }[]>>;
  for (let done = 0, round = 0; done < calls; done += block, round++) {
    for (const path of PATHS.map((_, i) => PATHS[(i + round) % PATHS.length]!)) {
      const page = pageFor(path);
      await usePath(path);
      await page.evaluate(`window.__calls.capabilities()`); // the one call the switch sends through the router
      for (const w of WORKLOADS)
        samples[path][w].push(
          ...((await page.evaluate(`window.__series('${w}', ${block})`)) as { wall: number; inference: number }[]),
        );
    }
  }
  const rows = WORKLOADS.flatMap((w) =>
    PATHS.map((path) => ({
      workload: w,
      path,
      calls: samples[path][w].length,
      wallMs: quartiles(samples[path][w].map((s) => s.wall)),
      inferenceMs: quartiles(samples[path][w].map((s) => s.inference)),
      outsideMs: quartiles(samples[path][w].map((s) => s.wall - s.inference)),
    })),
  );
  const result = {
    command: `npx tsx bench/call-overhead.ts ${process.argv.slice(2).join(' ')}`.trim(),
    date: new Date().toISOString().slice(0, 10),
    browser: `${setup.version} (Debian), ${setup.how}`,
    machine: 'the 2-core VM of shared/TESTING.md (no GPU), wasm',
    warmupMs,
    rows,
  };
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(
    `${result.browser}; ${calls} calls per workload and path, blocks of ${block}, after ${warmupMs} ms of warm-up`,
  );
  console.log(
    '| workload | path | wall ms (p25 / median / p75) | inference ms (median) | outside ms (p25 / median / p75) |',
  );
  console.log('|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.workload} | ${r.path} | ${r.wallMs.p25} / **${r.wallMs.median}** / ${r.wallMs.p75} | ${r.inferenceMs.median} | ${r.outsideMs.p25} / **${r.outsideMs.median}** / ${r.outsideMs.p75} |`,
    );
  console.log(`→ ${out}`);
} finally {
  await setup.close();
  await server.close();
}
