/**
 * `webq check`: serves the check page and the model, opens each browser with the extension, and runs every
 * (platform, bits) combination through window.webq: the fp32 run first (the reference every other bit width is
 * compared with), then each quantized variant with one warm-up pass and `runs` timed passes.
 */
import { resolve } from 'node:path';
import { startServer, type TestServer } from '../tools/server';
import type { Bits, CheckConfig, Platform } from './args';
import { chromeSession, firefoxSession, harnessSession, type CheckSession, type Settled } from './browsers';
import { hintFor, hintForFailure } from './hints';
import { checkModel } from './models';
import type { Agreement, CheckModel, InputInfo, OutputBrief, Plan } from './check-model';
import { median } from './tensors';

export type Status = 'ok' | 'unsupported' | 'failed';

export interface Row {
  browser: string;
  platform: Platform;
  bits: Bits;
  status: Status;
  reason?: string;
  hint?: string;
  error?: { name: string; message: string };
  backend?: string;
  fallbacks: string[];
  loadMs?: number;
  inferenceMs?: number;
  timesMs?: number[];
  modelBytes?: number;
  originalBytes?: number;
  memoryReductionPercent?: number;
  /** Registry ids: the task's output of this run, briefly. */
  output?: OutputBrief;
  agreement?: Agreement & { reference: boolean };
}

export interface BrowserSummary {
  name: string;
  version?: string;
  webgpu?: string;
  webnn?: string;
  error?: string;
}

/**
 * `modelHost`: registry ids only — the host set on each browser's options page (`--model-host`), or null when the
 * extension's own setting was left as it is.
 */
export interface Report {
  model: string;
  runs: number;
  modelHost?: string | null;
  browsers: BrowserSummary[];
  rows: Row[];
  exitCode: number;
}

interface Caps {
  browser: { name: string; version: string };
  webgpu: {
    available: boolean;
    reason?: string;
    adapter?: { vendor: string; architecture: string; description: string; emulated: boolean };
  };
  webnn: { available: boolean; reason?: string };
}
interface LoadResult {
  info: {
    backend: string;
    bits: Bits;
    modelBytes: number;
    originalBytes: number;
    fallbacks: string[];
    inputs: InputInfo[];
  };
  loadMs: number;
}
interface RunResult {
  times: number[];
  outputs: unknown;
  metrics: { backend: string; memoryReductionPercent: number; fallbacks: string[] };
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Console lines of the session in use go to its progress printer (one session at a time). */
let sessionConsole: (text: string) => void = () => {};

/** Progress lines from the page (`[webq-check] {phase, loaded, total}`), a line per phase and per quarter downloaded.
 * */
function progressPrinter() {
  let label = '';
  let lastPhase = '';
  let lastQuarter = -1;
  return {
    setLabel(l: string) {
      label = l;
      lastPhase = '';
      lastQuarter = -1;
    },
    onConsole(text: string) {
      if (!text.startsWith('[webq-check] ')) return;
      const p = JSON.parse(text.slice(13)) as { phase: string; loaded: number; total: number };
      const quarter = p.total > 0 ? Math.floor((4 * p.loaded) / p.total) : 0;
      if (p.phase === lastPhase && (p.phase !== 'download' || quarter === lastQuarter)) return;
      lastPhase = p.phase;
      lastQuarter = quarter;
      const amount =
        p.phase === 'download' && p.total > 0 ? ` ${(p.loaded / 1e6).toFixed(1)}/${(p.total / 1e6).toFixed(1)} MB` : '';
      log(`  ${label}: ${p.phase}${amount}`);
    },
  };
}

function loadOptions(config: CheckConfig, platform: Platform, bits: Bits): Record<string, unknown> {
  // A registry id's task (one id may serve several: CLIP), so load and run pick the same graphs.
  const task = config.model.kind === 'id' ? { task: config.model.task } : {};
  if (bits === 32) return { backend: platform, bits: 32, ...task };
  return {
    ...task,
    backend: platform,
    bits,
    ...(config.scheme ? { scheme: config.scheme } : {}),
    ...(config.groupSize !== undefined ? { groupSize: config.groupSize } : {}),
    ...(config.mixedPrecision ? { mixedPrecision: true } : {}),
  };
}

/** NotSupportedError is the engine saying "not here" (absent backend, refused bit width); anything else failed. */
function fromError(
  base: Pick<Row, 'browser' | 'platform' | 'bits'>,
  error: { name: string; message: string },
  config: CheckConfig,
  prefix = '',
): Row {
  const unsupported = error.name === 'NotSupportedError';
  const hint = unsupported
    ? hintFor(base.browser, base.platform)
    : hintForFailure(base.browser, error, config.model, config.modelHost);
  return {
    ...base,
    fallbacks: [],
    error,
    status: unsupported ? 'unsupported' : 'failed',
    reason: `${prefix}${error.name}: ${error.message}`,
    ...(hint ? { hint } : {}),
  };
}

async function runVariant(
  session: CheckSession,
  model: CheckModel,
  modelUrl: string,
  options: Record<string, unknown>,
  passes: number,
  plan: (inputs: InputInfo[]) => Plan,
) {
  const loaded = await session.call<LoadResult>('load', modelUrl, options);
  if (!loaded.ok) return loaded;
  const ran = await session.call<RunResult>('run', modelUrl, options, { ...plan(loaded.value.info.inputs), passes });
  await session.call('unload', modelUrl);
  if (!ran.ok) return ran;
  return { ok: true as const, value: { ...loaded.value, ...ran.value } };
}

async function checkPlatform(
  session: CheckSession,
  caps: Caps,
  config: CheckConfig,
  model: CheckModel,
  modelUrl: string,
  platform: Platform,
  progress: ReturnType<typeof progressPrinter>,
): Promise<Row[]> {
  const browser = session.name;
  const absent =
    platform === 'webgpu'
      ? caps.webgpu.available
        ? null
        : caps.webgpu.reason
      : platform === 'webnn'
        ? caps.webnn.available
          ? null
          : caps.webnn.reason
        : null;
  if (absent !== null) {
    return config.bits.map((bits) => ({
      browser,
      platform,
      bits,
      status: 'unsupported' as const,
      fallbacks: [],
      reason: `${platform} is not available in ${caps.browser.name} ${caps.browser.version}: ${absent ?? 'no reason given'}`,
      hint: hintFor(browser, platform),
    }));
  }

  const rows: Row[] = [];
  const plan = (inputs: InputInfo[]) => model.plan(inputs);
  const timedPasses = 1 + config.runs;
  progress.setLabel(`${browser} ${platform} fp32`);
  log(`${browser} ${platform}: fp32 reference`);
  const reference = await runVariant(
    session,
    model,
    modelUrl,
    loadOptions(config, platform, 32),
    config.bits.includes(32) ? timedPasses : 1,
    plan,
  );
  if (!reference.ok) {
    // Without an fp32 run there is nothing to compare with: every bit width on this platform reports why.
    return config.bits.map((bits) =>
      fromError({ browser, platform, bits }, reference.error, config, bits === 32 ? '' : 'the fp32 reference run: '),
    );
  }
  for (const bits of config.bits) {
    let result: Settled<LoadResult & RunResult>;
    if (bits === 32) {
      result = reference;
    } else {
      progress.setLabel(`${browser} ${platform} ${bits}-bit`);
      log(`${browser} ${platform}: ${bits}-bit (1 warm-up + ${config.runs} timed)`);
      result = await runVariant(session, model, modelUrl, loadOptions(config, platform, bits), timedPasses, plan);
    }
    if (!result.ok) {
      rows.push(fromError({ browser, platform, bits }, result.error, config));
      continue;
    }
    const r = result.value;
    const timed = r.times.slice(1); // the first pass is the warm-up (shader and kernel compilation)
    rows.push({
      browser,
      platform,
      bits,
      status: 'ok',
      backend: r.info.backend,
      fallbacks: r.info.fallbacks,
      loadMs: r.loadMs,
      inferenceMs: median(timed),
      timesMs: timed,
      modelBytes: r.info.modelBytes,
      originalBytes: r.info.originalBytes,
      memoryReductionPercent: r.metrics.memoryReductionPercent,
      ...(model.brief ? { output: model.brief(r.outputs) } : {}),
      agreement:
        bits === 32
          ? { agrees: true, reference: true, summary: 'reference (fp32)' }
          : { ...model.compare(reference.value.outputs, r.outputs), reference: false },
    });
  }
  return rows;
}

async function checkBrowser(
  open: () => Promise<CheckSession>,
  label: string,
  platforms: Platform[],
  config: CheckConfig,
  model: CheckModel,
  server: TestServer,
): Promise<{ summary: BrowserSummary; rows: Row[] }> {
  const progress = progressPrinter();
  const failAll = (message: string): { summary: BrowserSummary; rows: Row[] } => ({
    summary: { name: label, error: message },
    rows: platforms.flatMap((platform) =>
      config.bits.map((bits) => ({
        browser: label,
        platform,
        bits,
        status: 'failed' as const,
        fallbacks: [],
        reason: message,
      })),
    ),
  });
  log(
    label === 'chrome-harness'
      ? 'chrome-harness: launching @sparticuz/chromium with the engine harness page'
      : `${label}: launching with the extension and answering the permission prompt`,
  );
  let session: CheckSession;
  try {
    session = await open();
  } catch (err) {
    return failAll(`could not start ${label}: ${(err as Error).message.split('\n')[0]}`);
  }
  sessionConsole = progress.onConsole;
  try {
    const caps = await session.call<Caps>('capabilities');
    if (!caps.ok) return failAll(`capabilities(): ${caps.error.name}: ${caps.error.message}`);
    const c = caps.value;
    const adapter = c.webgpu.adapter;
    const summary: BrowserSummary = {
      name: label,
      version: `${c.browser.name} ${c.browser.version}`,
      webgpu: c.webgpu.available
        ? `${adapter?.description || adapter?.vendor || 'adapter'}${adapter?.emulated ? ' (emulated on the CPU)' : ''}`
        : `absent: ${c.webgpu.reason}`,
      webnn: c.webnn.available ? 'available' : `absent: ${c.webnn.reason}`,
    };
    const rows: Row[] = [];
    const modelUrl = model.ref(server.origin);
    for (const platform of platforms)
      rows.push(...(await checkPlatform(session, c, config, model, modelUrl, platform, progress)));
    return { summary, rows };
  } finally {
    await session.close();
  }
}

export async function runCheck(config: CheckConfig): Promise<Report> {
  const model = checkModel(config.model, config.input, config.dims);
  const server = await startServer({
    '/check.html': () => ({
      status: 200,
      type: 'text/html; charset=utf-8',
      body: '<!doctype html><meta charset="utf-8"><title>webq check</title><script src="/check.js"></script><h1>webq check</h1>',
    }),
    '/check.js': resolve('cli/page/check.js'),
    ...model.routes,
  });
  const onConsole = (text: string) => sessionConsole(text);
  const pageUrl = `${server.origin}/check.html`;
  const browsers: BrowserSummary[] = [];
  const rows: Row[] = [];
  try {
    for (const browser of config.browsers) {
      const session = { pageUrl, headed: config.headed, modelHost: config.modelHost, onConsole, log };
      const open = browser === 'chrome' ? () => chromeSession(session) : () => firefoxSession(session);
      const result = await checkBrowser(open, browser, config.platforms, config, model, server);
      browsers.push(result.summary);
      rows.push(...result.rows);
    }
    if (config.webnnHarness) {
      const { harnessRoutes } = await import('../tools/harness');
      for (const [path, route] of Object.entries(harnessRoutes()))
        if (path !== '/check.js') server.routes.set(path, route);
      const result = await checkBrowser(
        () => harnessSession(server.origin, onConsole),
        'chrome-harness',
        ['webnn'],
        config,
        model,
        server,
      );
      browsers.push(result.summary);
      rows.push(...result.rows);
    }
  } finally {
    await server.close();
  }
  const failed = rows.some((r) => r.status === 'failed');
  const strictFailed = config.strict && rows.some((r) => r.status === 'unsupported' || r.agreement?.agrees === false);
  return {
    model: model.label,
    runs: config.runs,
    ...(config.model.kind === 'id' ? { modelHost: config.modelHost ?? null } : {}),
    browsers,
    rows,
    exitCode: failed || strictFailed ? 1 : 0,
  };
}
