/**
 * @webq/client as a site author ships it: `npm pack` of packages/client installed (offline, from the tarball) into a
 * fresh app in a temp directory, built with Vite, served, and run in Chromium without the extension (the in-page
 * engine), in Chromium with the extension, and in Firefox without it. The same calls give the same outputs on every
 * host — a raw model (Identity, Silero VAD against onnxruntime-node), a registry feature-extraction model and a
 * text-generation model from a mirror of the model host, `stream` and the LanguageModel polyfill — and
 * `performanceMetrics.host` says which ran. Needs `npm run build` (dist/chrome and packages/client/dist).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import {
  CHROMIUM_GPU_ARGS,
  CHROMIUM_PATH,
  FIREFOX_PATH,
  launchChromium,
  openWithConsent,
  saveModelHost,
} from '../../tools/browsers';
import { harnessRoutes } from '../../tools/harness';
import { BLANK_PAGE, startServer, type TestServer } from '../../tools/server';
import { MODELS, referenceRun, speech16k } from '../../tools/fixtures';
import { identityModel } from '../support/onnx-models';
import { mirrorRepo } from '../../tools/hub-mirror';
import { BERT_EXAMPLES, bertHubFiles } from '../../tools/hub-models/bert';
import { qwen2HubFiles } from '../../tools/hub-models/qwen2';
import { maxAbsDiff } from '../../extension/shared/compare';
import { buildClientApp, CLIENT_PACKAGE_DIR, type ClientApp } from '../../tools/client-app';
import type { PageLike } from './webq-suite';

const PREFIX = '/hub';

type Json = any; // what page.evaluate hands back

let server: TestServer;
let app: ClientApp;
let audio: number[];

beforeAll(async () => {
  app = await buildClientApp();
  server = await startServer({ '/blank.html': BLANK_PAGE() });
  for (const [path, file] of Object.entries(harnessRoutes(app.dist))) server.routes.set(path, file); // the site at /
  server.routes.set('/models/identity_float32.onnx', identityModel('float32'));
  server.routes.set('/models/silero_vad.onnx', MODELS.sileroVad);
  mirrorRepo(server, PREFIX, 'Xenova/bert-base-uncased', bertHubFiles());
  mirrorRepo(server, PREFIX, 'onnx-community/Qwen2.5-0.5B-Instruct', qwen2HubFiles());
  audio = Array.from(speech16k().subarray(8000, 8000 + 512 * 3));
});

afterAll(async () => {
  await server?.close();
  app?.cleanup();
});

const siteUrl = () => `${server.origin}/index.html?hub=${encodeURIComponent(`${server.origin}${PREFIX}`)}`;

/** The representative calls, made in the page through the package; every typed array comes back as an array. */
function probe(page: PageLike): Promise<Json> {
  return page.evaluate(
    async ({ origin, audio, text }) => {
      const client = (window as any).client;
      const plain = (v: unknown) =>
        JSON.parse(JSON.stringify(v, (_k, x) => (ArrayBuffer.isView(x) ? Array.from(x as any, Number) : x)));
      const settle = (p: Promise<any>) =>
        p.then(
          (r) => ({
            ok: true,
            output: plain(r.output),
            host: r.performanceMetrics.host,
            backend: r.performanceMetrics.backend,
          }),
          (e: Error) => ({ ok: false, name: e.name, message: e.message }),
        );
      const chat = { messages: [{ role: 'user', content: 'Name a colour.' }] }; // what a session's prompt sends
      const x = { type: 'float32', data: new Float32Array([1.5, -2, 3.25]), dims: [3] };
      const identity = await settle(client.run(`${origin}/models/identity_float32.onnx`, { x }));
      let state = new Float32Array(256);
      const vad: number[] = [];
      for (let i = 0; i + 512 <= audio.length; i += 512) {
        const r = await client.run(`${origin}/models/silero_vad.onnx`, {
          input: { type: 'float32', data: Float32Array.from(audio.slice(i, i + 512)), dims: [1, 512] },
          state: { type: 'float32', data: state, dims: [2, 1, 128] },
          sr: { type: 'int64', data: new BigInt64Array([16000n]), dims: [] },
        });
        vad.push(r.output.output.data[0]);
        state = r.output.stateN.data;
      }
      const bert = await settle(client.run('bert-base-uncased', text, { normalize: true }));
      const generation = await settle(client.run('qwen2.5-0.5b-instruct', chat, { maxNewTokens: 6 }));
      const s = client.stream('qwen2.5-0.5b-instruct', chat, { maxNewTokens: 6 });
      const chunks: string[] = [];
      for (const reader = s.getReader(); ;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
      }
      const streamed = await settle(s.result);
      const session = await client.LanguageModel.create({
        model: 'qwen2.5-0.5b-instruct',
        maxNewTokens: 6,
      });
      const prompted = await session.prompt('Name a colour.');
      session.destroy();
      // Cancelling the package's stream reaches the engine: its result is an AbortError, and the next call is served.
      const long = client.stream('qwen2.5-0.5b-instruct', chat, { maxNewTokens: 200 });
      const longReader = long.getReader();
      const first = await longReader.read();
      await longReader.cancel();
      const cancelled = { firstChunk: typeof first.value, result: await settle(long.result) };
      const phases: string[] = [];
      const info = await client.load(`${origin}/models/silero_vad.onnx`, {
        bits: 8,
        onProgress: (p: { phase: string }) => phases.push(p.phase),
      });
      const badOption = await settle(client.run(`${origin}/models/identity_float32.onnx`, { x }, { bits: 3 }));
      const aborted = await settle(
        client.run(`${origin}/models/identity_float32.onnx`, { x }, { signal: AbortSignal.abort() }),
      );
      return {
        host: await client.host(),
        version: client.version,
        identity,
        vad,
        bert,
        generation,
        stream: { text: chunks.join(''), result: streamed },
        prompted,
        polyfilled:
          (window as any).siteLanguageModel === ((window as any).nativeLanguageModel ?? client.LanguageModel) &&
          (globalThis as any).LanguageModel === (window as any).siteLanguageModel,
        badOption,
        aborted,
        cancelled,
        load: { bits: info.bits, phases: [...new Set(phases)] },
      };
    },
    { origin: server.origin, audio, text: BERT_EXAMPLES.fox.text },
  );
}

/** What every host must give; `host` is the one expected. */
async function expectOutputs(r: Json, host: 'page' | 'extension'): Promise<void> {
  expect(r.host).toBe(host);
  expect(r.version).toBe(JSON.parse(readFileSync(join(CLIENT_PACKAGE_DIR, 'package.json'), 'utf8')).version);
  expect(r.identity, r.identity.message).toMatchObject({ ok: true, host, output: { y: { data: [1.5, -2, 3.25] } } });
  const reference = await referenceVadFrames();
  expect(maxAbsDiff(Float32Array.from(r.vad), Float32Array.from(reference))).toBeLessThan(1e-3);
  expect(r.bert, r.bert.message).toMatchObject({ ok: true, host, output: { dims: [1, 64] } });
  expect(r.bert.output.tokens).toEqual([BERT_EXAMPLES.fox.ids]);
  expect(Math.hypot(...r.bert.output.embeddings)).toBeCloseTo(1, 4);
  expect(r.generation, r.generation.message).toMatchObject({ ok: true, host });
  expect(r.generation.output.tokens.length).toBeGreaterThan(0);
  // Greedy: the stream, its result and the LanguageModel session say what the one-shot run said.
  expect(r.stream.result).toMatchObject({ ok: true, host, output: { text: r.generation.output.text } });
  expect(r.stream.text).toBe(r.generation.output.text);
  expect(r.prompted).toBe(r.generation.output.text);
  expect(r.polyfilled).toBe(true);
  expect(r.badOption).toMatchObject({ ok: false, name: 'DataError' });
  expect(r.badOption.message).toMatch(/bits/);
  expect(r.aborted).toMatchObject({ ok: false, name: 'AbortError' });
  expect(r.cancelled).toMatchObject({ firstChunk: 'string', result: { ok: false, name: 'AbortError' } });
  expect(r.load.bits).toBe(8);
  expect(r.load.phases).toContain('quantize'); // a new 8-bit variant: progress events reach the page's callback
}

async function referenceVadFrames(): Promise<number[]> {
  let state = { type: 'float32', data: new Float32Array(256), dims: [2, 1, 128] };
  const out: number[] = [];
  for (let i = 0; i + 512 <= audio.length; i += 512) {
    const r = await referenceRun(MODELS.sileroVad, {
      input: { type: 'float32', data: Float32Array.from(audio.slice(i, i + 512)), dims: [1, 512] },
      state,
      sr: { type: 'int64', data: new BigInt64Array([16000n]), dims: [] },
    });
    out.push(r.output!.data[0]!);
    state = { type: 'float32', data: Float32Array.from(r.stateN!.data), dims: [2, 1, 128] };
  }
  return out;
}

/** Outputs of the page host, kept to compare the extension's with. */
let inPage: Json;

describe('@webq/client from npm pack in a fresh Vite app', () => {
  it("the package's types serve a TypeScript site (strict, libraries checked too)", () => {
    writeFileSync(
      join(app.dir, 'check.ts'),
      [
        "import { webq, createWebqClient, type ClientRunResult, type HostKind } from '@webq/client';",
        "import { polyfillLanguageModel } from '@webq/client/language-model';",
        "const r: ClientRunResult = await webq.run('bert-base-uncased', 'hi', { normalize: true });",
        'const host: HostKind = r.performanceMetrics.host;',
        "const client = createWebqClient({ host: 'page', modelHost: 'https://huggingface.co' });",
        "const session = await client.LanguageModel.create({ model: 'qwen2.5-0.5b-instruct' });",
        "const text: string = await session.prompt('Name a colour.');",
        'polyfillLanguageModel(client.LanguageModel);',
        'console.log(host, text, r.performanceMetrics.inferenceTimeMs.toFixed(1));',
        '// @ts-expect-error: host is a HostKind, not any string',
        "const wrong: 'gpu' = r.performanceMetrics.host;",
        'console.log(wrong);',
      ].join('\n'),
    );
    const tsc = resolve('node_modules/typescript/bin/tsc');
    const args = ['--noEmit', '--strict', '--skipLibCheck', 'false', '--target', 'es2022', '--module', 'esnext'];
    args.push('--moduleResolution', 'bundler', '--lib', 'es2023,dom,dom.iterable', 'check.ts');
    execFileSync(process.execPath, [tsc, ...args], { cwd: app.dir, stdio: 'pipe' }); // throws with tsc's errors
  });

  it('Chromium without the extension: the in-page engine runs every call (host: page)', async () => {
    const browser: Browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--no-first-run', ...CHROMIUM_GPU_ARGS],
    });
    try {
      const page = await browser.newPage();
      page.on('pageerror', (err) => console.error('page error:', err.message));
      await page.goto(siteUrl());
      await page.waitForFunction(() => document.title === 'site ready');
      expect(await page.evaluate(() => 'webq' in window)).toBe(false); // the page engine defines no global
      inPage = await probe(page);
      await expectOutputs(inPage, 'page');
      expect(inPage.bert.backend).toBe('wasm'); // the text profile's order on an emulated GPU, as in the extension
    } finally {
      await browser.close();
    }
  });

  it('Chromium with the extension: the same calls go to the extension (host: extension), same outputs', async () => {
    const withExtension = await launchChromium();
    try {
      const options = await withExtension.context.newPage();
      await options.goto(`chrome-extension://${withExtension.extensionId}/options/options.html`);
      await saveModelHost(options, `${server.origin}${PREFIX}`);
      await options.close();
      const page = await openWithConsent(withExtension.context, siteUrl());
      await page.waitForFunction(() => document.title === 'site ready');
      const r = await probe(page);
      await expectOutputs(r, 'extension');
      expect(r.generation.output.tokens).toEqual(inPage.generation.output.tokens);
      expect(
        maxAbsDiff(Float32Array.from(r.bert.output.embeddings), Float32Array.from(inPage.bert.output.embeddings)),
      ).toBeLessThan(1e-4);
      expect(maxAbsDiff(Float32Array.from(r.vad), Float32Array.from(inPage.vad))).toBeLessThan(1e-4);
    } finally {
      await withExtension.close();
    }
  });

  it('Firefox without the extension: the in-page engine, same outputs (host: page)', async () => {
    const puppeteer = (await import('puppeteer-core')).default;
    const browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX_PATH,
      headless: true,
      extraPrefsFirefox: { 'dom.webgpu.enabled': true, 'gfx.webgpu.ignore-blocklist': true },
    });
    try {
      const page = await browser.newPage();
      await page.goto(siteUrl());
      await page.waitForFunction(() => document.title === 'site ready', { timeout: 30_000 });
      const r = await probe(page as unknown as PageLike);
      await expectOutputs(r, 'page');
      expect(r.generation.output.tokens).toEqual(inPage.generation.output.tokens);
      expect(
        maxAbsDiff(Float32Array.from(r.bert.output.embeddings), Float32Array.from(inPage.bert.output.embeddings)),
      ).toBeLessThan(1e-4);
    } finally {
      await browser.close();
    }
  });
});
