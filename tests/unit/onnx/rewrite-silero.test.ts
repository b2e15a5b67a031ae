/**
 * Silero VAD v5 (real weights, stored as Constant nodes inside If branches; Conv front end, LSTM):
 * rewritten at 8 bits its speech probabilities and speech/silence decisions stay with fp32 on an
 * espeak-ng recording (fixtures/README.md).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import { forEachGraph, parseModel, serializeModel } from '../../../extension/onnx/model';
import { makePolicy } from '../../../extension/onnx/policy';
import { rewriteModel } from '../../../extension/onnx/rewrite';
import { readWav, referenceVad } from '../../../tools/fixtures';
import { modelBytes, SILERO_VAD } from './models';
import { expectReportMatchesModel } from './report-check';

const vad = (model: Uint8Array, audio: Float32Array) => referenceVad(audio, model);

let audio: Float32Array;
let original: Uint8Array;
let fp32: number[];

beforeAll(async () => {
  const { samples, sampleRate } = readWav(
    new Uint8Array(readFileSync(new URL('./fixtures/speech-16k.wav', import.meta.url))),
  );
  expect(sampleRate).toBe(16000);
  audio = new Float32Array(samples.length + 16000);
  audio.set(samples, 8000); // 0.5 s of silence before and after
  original = modelBytes(SILERO_VAD);
  fp32 = await vad(original, audio);
});

test('the fp32 reference finds both speech and silence', () => {
  expect(fp32.filter((p) => p > 0.5).length).toBeGreaterThan(20);
  expect(fp32.filter((p) => p < 0.5).length).toBeGreaterThan(20);
});

describe.each([
  ['8-bit symmetric', makePolicy({ bits: 8, groupSize: 0 })],
  ['8-bit asymmetric', makePolicy({ bits: 8, scheme: 'asymmetric', groupSize: 0 })],
  ['16-bit', makePolicy({ bits: 16 })],
])('Silero VAD at %s', (label, policy) => {
  let written: Uint8Array;
  let result: ReturnType<typeof rewriteModel>;
  beforeAll(() => {
    const model = parseModel(original);
    result = rewriteModel(model, policy);
    written = serializeModel(model);
  });

  test('Conv weights in both If branches were rewritten; the report matches the bytes written', () => {
    const conv = result.report.weights.filter((w) => w.role === 'conv');
    expect(conv.length).toBe(12); // STFT basis, 4 encoder convs, the decoder conv: in the 16 kHz and the 8 kHz branch
    for (const w of conv) expect(w.precision).toBe(policy.bits);
    let dq = 0;
    forEachGraph(parseModel(written).graph!, (g) => {
      for (const n of g.node ?? []) if (n.opType === 'DequantizeLinear') dq++;
    });
    // 12 Conv weights and 4 LSTM matrices, one DequantizeLinear each however many Slices read them.
    expect(dq).toBe(policy.bits === 8 ? 16 : 0);
    expect(result.report.weights.filter((w) => w.format === 'DequantizeLinear').length).toBe(
      policy.bits === 8 ? 16 : 0,
    );
    expectReportMatchesModel(written, result.report);
    // Every matrix follows bits (the LSTM weights through DequantizeLinear too); biases stay fp32.
    expect(result.report.modelBytes).toBeLessThan(result.report.originalBytes * (policy.bits === 8 ? 0.27 : 0.51));
    for (const w of result.report.weights.filter((x) => x.name.includes('rnn.weight')))
      expect(w.precision).toBe(policy.bits);
  });

  test('speech probabilities stay close to fp32 and the decisions agree', async () => {
    const probabilities = await vad(written, audio);
    const diffs = probabilities.map((p, i) => Math.abs(p - fp32[i]!));
    const maxDiff = Math.max(...diffs);
    const agree = probabilities.filter((p, i) => p > 0.5 === fp32[i]! > 0.5).length / probabilities.length;
    console.info(
      `Silero ${label}: max |p - p_fp32| ${maxDiff.toFixed(4)}, mean ${(diffs.reduce((a, b) => a + b, 0) / diffs.length).toFixed(4)}, decisions agree on ${(agree * 100).toFixed(1)}% of ${probabilities.length} frames`,
    );
    expect(maxDiff).toBeLessThan(policy.bits === 16 ? 0.01 : 0.1);
    expect(agree).toBeGreaterThanOrEqual(0.98);
  });
});
