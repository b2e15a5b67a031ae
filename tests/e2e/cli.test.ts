/**
 * `webq check` end to end: the bin (cli/webq.mjs) as a user runs it, on the built extension in Debian's Chromium,
 * with PP-OCRv4 rec on a short rendered text (a narrow image keeps WebGPU on SwiftShader to seconds per run), and
 * with registry ids fetched from a local mirror of the model host (the generated BERT and Qwen2 in the hub's layout).
 * Needs `npm run build` (dist/chrome).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { featureExtraction } from '../../extension/tasks/feature-extraction';
import { mirrorHits, mirrorRepo } from '../../tools/hub-mirror';
import { BERT_EXAMPLES, bertHubFiles } from '../../tools/hub-models/bert';
import { qwen2HubFiles } from '../../tools/hub-models/qwen2';
import { textGeneration } from '../../extension/tasks/generation';
import type { TaskPipeline } from '../../extension/tasks/types';
import { runPipeline } from '../support/node-pipeline';
import { startServer, type TestServer } from '../../tools/server';

interface Cli {
  code: number;
  stdout: string;
  stderr: string;
}

function webq(...args: string[]): Promise<Cli> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['cli/webq.mjs', ...args],
      { maxBuffer: 64 * 1024 * 1024, timeout: 240_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const TEXT = 'Hi 42';

describe('webq check', () => {
  it('chrome × wasm, webgpu, webnn × 32 and 8 bits, as JSON: runs what the browser has, reports webnn unsupported, exit 0', async () => {
    const r = await webq(
      'check',
      '--browser',
      'chrome',
      '--platform',
      'all',
      '--bits',
      '32',
      '--bits',
      '8',
      '--runs',
      '2',
      '--input',
      TEXT,
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/chrome wasm fp32: download 10\.8\/10\.8 MB/); // progress on stderr
    expect(r.stderr).toMatch(/8-bit: quantize/);
    const report = JSON.parse(r.stdout);
    expect(report.exitCode).toBe(0);
    expect(report.browsers[0]).toMatchObject({ name: 'chrome', version: expect.stringMatching(/^chrome \d+/) });
    expect(report.rows.map((x: any) => `${x.platform}/${x.bits}/${x.status}`)).toEqual([
      'wasm/32/ok',
      'wasm/8/ok',
      'webgpu/32/ok',
      'webgpu/8/ok',
      'webnn/32/unsupported',
      'webnn/8/unsupported',
    ]);
    for (const row of report.rows.filter((x: any) => x.status === 'ok')) {
      expect(row.backend).toBe(row.platform);
      expect(row.agreement.agrees).toBe(true);
      expect(row.loadMs).toBeGreaterThan(0);
      expect(row.timesMs).toHaveLength(2);
      expect(row.inferenceMs).toBeGreaterThan(0);
      expect(Array.isArray(row.fallbacks)).toBe(true);
      if (row.bits === 32) {
        expect(row.agreement.reference).toBe(true);
        expect(row.modelBytes).toBe(row.originalBytes);
      } else {
        expect(row.agreement.text).toBe(TEXT); // the quantized model still reads the rendered text
        expect(row.agreement.cosine).toBeGreaterThan(0.99);
        expect(row.agreement.cosine).toBeLessThan(1); // 8-bit weights change the logits, a little
        expect(row.memoryReductionPercent).toBeGreaterThan(0);
        expect(row.modelBytes).toBeLessThan(row.originalBytes);
      }
    }
    for (const row of report.rows.filter((x: any) => x.status === 'unsupported')) {
      expect(row.reason).toMatch(/^webnn is not available in chrome .*WebNN is not supported on this platform/);
      expect(row.hint).toMatch(/WebMachineLearningNeuralNetwork/);
    }
  });

  it('an unsupported combination alone: the table says why, exit 0; with --strict, exit 1', async () => {
    const plain = await webq('check', '--platform', 'webnn', '--bits', '8', '--input', TEXT);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/^chrome\s+webnn\s+8\s+—.*unsupported \[1\]$/m);
    expect(plain.stdout).toMatch(/^\[1\] webnn is not available in chrome/m);
    expect(plain.stdout).toMatch(/0 ran, 1 unsupported, 0 failed; exit code 0/);
    const strict = await webq('check', '--platform', 'webnn', '--bits', '8', '--input', TEXT, '--strict');
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/exit code 1/);
  });

  it("a real failure (a file that is not ONNX) fails with the engine's error and exit 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webq-cli-'));
    writeFileSync(join(dir, 'broken.onnx'), 'this is not an ONNX model');
    const r = await webq('check', '--platform', 'wasm', '--bits', '32', '--model', join(dir, 'broken.onnx'), '--json');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.rows).toEqual([
      expect.objectContaining({ status: 'failed', error: expect.objectContaining({ name: 'DataError' }) }),
    ]);
  });

  describe('a registry id', () => {
    const BERT_REPO = 'Xenova/bert-base-uncased';
    const bert = bertHubFiles();
    const QWEN_REPO = 'onnx-community/Qwen2.5-0.5B-Instruct';
    const qwen = qwen2HubFiles();
    let hub: TestServer;
    beforeAll(async () => {
      hub = await startServer();
      mirrorRepo(hub, '/hub', BERT_REPO, bert);
    });
    afterAll(() => hub?.close());

    it('bert-base-uncased from a mirror set with --model-host: text → embedding at 32 and 4 bits on wasm and webgpu, compared by cosine', async () => {
      const text = BERT_EXAMPLES.example.text;
      const r = await webq(
        'check',
        '--model',
        'bert-base-uncased',
        '--model-host',
        `${hub.origin}/hub`,
        '--platform',
        'wasm,webgpu',
        '--bits',
        '32',
        '--bits',
        '4',
        '--runs',
        '2',
        '--input',
        text,
        '--json',
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/chrome: model host http:\/\/127\.0\.0\.1:\d+\/hub saved on the options page/);
      const report = JSON.parse(r.stdout);
      expect(report.model).toBe(`bert-base-uncased (feature-extraction, ${BERT_REPO}) on "${text}"`);
      expect(report.modelHost).toBe(`${hub.origin}/hub`);
      expect(report.rows.map((x: any) => `${x.platform}/${x.bits}/${x.status}/${x.backend}`)).toEqual([
        'wasm/32/ok/wasm',
        'wasm/4/ok/wasm',
        'webgpu/32/ok/webgpu',
        'webgpu/4/ok/webgpu',
      ]);
      // The fp32 embedding is the model's: the same pipeline in Node on the mirror's bytes gives the same norm.
      const reference = (await runPipeline(featureExtraction, bert, { kind: 'text', text: [text], batched: false }))
        .output as { embeddings: Float32Array };
      const norm = Math.hypot(...reference.embeddings);
      for (const row of report.rows) {
        expect(row.output.dims).toEqual([1, 64]);
        expect(row.output.summary).toBe(`[1, 64] embedding, norm ${row.output.norm.toFixed(3)}`);
        expect(row.timesMs).toHaveLength(2);
        if (row.bits === 32) {
          expect(row.output.norm).toBeCloseTo(norm, 3);
          expect(row.agreement).toMatchObject({ agrees: true, reference: true });
          expect(row.modelBytes).toBe(row.originalBytes);
        } else {
          // 4-bit weights move the embedding a little; agreement is cosine ≥ 0.99, and the row says which it was.
          expect(row.agreement.cosine).toBeGreaterThan(0.9);
          expect(row.agreement.cosine).toBeLessThan(1);
          expect(row.agreement.agrees).toBe(row.agreement.cosine >= 0.99);
          expect(row.agreement.summary).toBe(`cos ${row.agreement.cosine.toFixed(5)}`);
          expect(row.memoryReductionPercent).toBeGreaterThan(40);
        }
      }
      // Every file came from the mirror: the graph, tokenizer.json and the configs.
      expect(mirrorHits(hub, '/hub', BERT_REPO)).toBeGreaterThanOrEqual(4);
    });

    it("qwen2.5-0.5b-instruct: a chat message → greedy answer at 32 and 4 bits on wasm, judged by the first tokens; fp32's are onnxruntime-node's", async () => {
      mirrorRepo(hub, '/hub', QWEN_REPO, qwen);
      const prompt = 'Name a colour.';
      const r = await webq(
        'check',
        '--model',
        'qwen2.5-0.5b-instruct',
        '--model-host',
        `${hub.origin}/hub`,
        '--platform',
        'wasm',
        '--bits',
        '32',
        '--bits',
        '4',
        '--runs',
        '1',
        '--input',
        prompt,
        '--json',
      );
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.model).toBe(`qwen2.5-0.5b-instruct (text-generation, ${QWEN_REPO}) on "${prompt}"`);
      expect(report.rows.map((x: any) => `${x.platform}/${x.bits}/${x.status}`)).toEqual(['wasm/32/ok', 'wasm/4/ok']);
      const [fp32, q4] = report.rows;
      const reference = await runPipeline(
        textGeneration as unknown as TaskPipeline,
        qwen,
        { kind: 'messages', messages: [{ role: 'user', content: prompt }] },
        { maxNewTokens: 32 },
      );
      expect(fp32.output.text).toBe((reference.output as { text: string }).text);
      expect(fp32.agreement).toMatchObject({ agrees: true, reference: true });
      // The 4-bit row says how many of fp32's first tokens it kept, and agrees only with 8 of them (or all).
      const kept = /^(same (\d+) tokens|first (\d+) of (\d+) tokens as fp32's)/.exec(q4.agreement.summary);
      expect(kept, q4.agreement.summary).not.toBeNull();
      const same = Number(kept![2] ?? kept![3]);
      const total = Number(kept![2] ?? kept![4]);
      expect(q4.agreement.agrees).toBe(same >= Math.min(8, total));
    });

    it('a model host that cannot be reached: a NetworkError row naming the file, a hint about --model-host, exit 1', async () => {
      const closed = await startServer();
      await closed.close(); // a port nothing listens on
      const r = await webq(
        'check',
        '--model',
        'bert-base-uncased',
        '--model-host',
        `${closed.origin}/hub`,
        '--platform',
        'wasm',
        '--bits',
        '32',
      );
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^chrome\s+wasm\s+32\s+—.*FAILED \[1\]$/m);
      expect(r.stdout).toContain(
        `[1] NetworkError: could not download ${closed.origin}/hub/${BERT_REPO}/resolve/main/onnx/model.onnx`,
      );
      expect(r.stdout).toContain(
        `→ --model-host ${closed.origin}/hub was set on the options page: it must serve ${BERT_REPO}'s files`,
      );
      expect(r.stdout).toMatch(/0 ran, 0 unsupported, 1 failed; exit code 1/);
    });
  });

  it('usage errors exit 2 without starting a browser', async () => {
    const bits = await webq('check', '--bits', '3');
    expect(bits.code).toBe(2);
    expect(bits.stderr).toMatch(/--bits 3: expected one of 2, 4, 8, 16, 32/);
    const scheme = await webq('check', '--bits', '32', '--scheme', 'asymmetric');
    expect(scheme.code).toBe(2);
    const unknownId = await webq('check', '--model', 'bert-large-cased');
    expect(unknownId.code).toBe(2);
    expect(unknownId.stderr).toMatch(
      /a registry id \(bert-base-uncased, vit-base-patch16-224, clip-vit-base-patch32, whisper-tiny, wav2vec2-base-960h, qwen2\.5-0\.5b-instruct, llama-3\.2-1b-instruct, t5-small\)/,
    );
    const hostWithoutId = await webq('check', '--model-host', 'http://127.0.0.1:9/hub');
    expect(hostWithoutId.code).toBe(2);
    expect(hostWithoutId.stderr).toMatch(/--model-host applies to registry ids/);
    const plainHttp = await webq('check', '--model', 'bert-base-uncased', '--model-host', 'http://models.example.org');
    expect(plainHttp.code).toBe(2);
    expect(plainHttp.stderr).toMatch(/Use https, or http only for localhost/);
    const notImage = await webq('check', '--model', 'vit-base-patch16-224', '--input', 'README.md');
    expect(notImage.code).toBe(2);
    const help = await webq('check', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/whisper-tiny\s+speech → text/);
    expect(help.stdout).toMatch(/wav2vec2-base-960h\s+speech → text by CTC/);
    expect(help.stdout).toMatch(
      /--model-host URL\s+registry ids: the model host to set on the extension's options page/,
    );
  });
});
