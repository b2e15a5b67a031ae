/**
 * PP-OCRv4 recognition (real pretrained weights, MatMul attention, weights in Constant nodes),
 * rewritten at 16/8/4/2 bits with and without mixed precision and run in onnxruntime-node with full
 * graph optimisation (what the engine host uses). Text lines drawn with a bitmap font must read the
 * same as fp32 at 8 and 4 bits; 2-bit character accuracy is measured and bounded.
 */
import { cosine } from '../../../extension/shared/compare';
import { beforeAll, describe, expect, test } from 'vitest';
import { forEachGraph, parseModel, serializeModel } from '../../../extension/onnx/model';
import { makePolicy, type PrecisionPolicy } from '../../../extension/onnx/policy';
import { reportWeights } from '../../../extension/onnx/report';
import { rewriteModel } from '../../../extension/onnx/rewrite';
import { modelBytes, PPOCR_REC, ppocrKeys } from './models';
import { ort } from './ort';
import { expectReportMatchesModel } from './report-check';
import { ctcDecode, textImage } from './text-image';
import { ocrInput } from '../../../tools/fixtures';

/** Lines drawn with the bitmap font, then lines rendered by ImageMagick (DejaVu Sans) via tools/fixtures.ts. */
const BITMAP_TEXTS = ['TELL 147', 'READ A LOT', 'HOLD 1024', 'WELL TOLD'];
const RENDERED_TEXTS = ['Hello World 2024', 'Quantized weights, same text.'];
const TEXTS = [...BITMAP_TEXTS, ...RENDERED_TEXTS];
const inputs = () => [
  ...BITMAP_TEXTS.map((text) => textImage(text, 8 + text.length * 24 + 16)),
  ...RENDERED_TEXTS.map((text) => ocrInput(text)),
];
const OUTPUT = 'softmax_11.tmp_0';

interface Reading {
  text: string;
  probs: Float32Array;
}

async function read(model: Uint8Array, keys: string[]): Promise<Reading[]> {
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all' });
  const out: Reading[] = [];
  for (const img of images) {
    const result = (await session.run({ x: new ort.Tensor('float32', img.data, img.dims) }))[OUTPUT]!;
    const probs = result.data as Float32Array;
    out.push({ text: ctcDecode(probs, result.dims[1]!, result.dims[2]!, keys), probs });
  }
  await session.release();
  return out;
}

/** 1 - edit distance / length: the character accuracy of `got` against `want`. */
export function characterAccuracy(want: string, got: string): number {
  const d = Array.from({ length: want.length + 1 }, (_, i) =>
    Array.from({ length: got.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= want.length; i++)
    for (let j = 1; j <= got.length; j++) {
      d[i]![j] = Math.min(
        d[i - 1]![j]! + 1,
        d[i]![j - 1]! + 1,
        d[i - 1]![j - 1]! + (want[i - 1] === got[j - 1] ? 0 : 1),
      );
    }
  return Math.max(0, 1 - d[want.length]![got.length]! / want.length);
}

let original: Uint8Array;
let images: { data: Float32Array; dims: number[] }[];
let keys: string[];
let fp32: Reading[];

beforeAll(async () => {
  original = modelBytes(PPOCR_REC);
  keys = ppocrKeys();
  images = inputs();
  fp32 = await read(original, keys);
});

test('fp32 reads the drawn and rendered text exactly (the reference is right)', () => {
  expect(fp32.map((r) => r.text)).toEqual(TEXTS);
});

test('the unmodified model reports every weight at fp32 and nothing pre-quantized', () => {
  const report = reportWeights(parseModel(original));
  expect(report.preQuantized.detected).toBe(false);
  expect(report.modelBytes).toBe(report.originalBytes);
  expect(report.weights.every((w) => w.precision === 32)).toBe(true);
});

describe.each<[string, Partial<PrecisionPolicy>, number]>([
  ['8-bit group 128', { bits: 8, groupSize: 128 }, 0.97],
  ['4-bit group 128 mixed', { bits: 4, groupSize: 128, mixedPrecision: true }, 0.97],
  ['4-bit asymmetric group 32', { bits: 4, scheme: 'asymmetric', groupSize: 32 }, 0.97],
  ['2-bit group 32', { bits: 2, groupSize: 32 }, 0.9],
  ['2-bit group 32 mixed', { bits: 2, groupSize: 32, mixedPrecision: true }, 0.9],
])('PP-OCRv4 rec at %s', (_label, overrides, minCosine) => {
  const policy = makePolicy(overrides);
  let written: Uint8Array;
  let result: ReturnType<typeof rewriteModel>;
  let readings: Reading[];

  beforeAll(async () => {
    const model = parseModel(original);
    result = rewriteModel(model, policy);
    written = serializeModel(model);
    readings = await read(written, keys);
  });

  test('MatMul weights became MatMulNBits, Conv weights DequantizeLinear, originals are gone', () => {
    const ops: Record<string, number> = {};
    forEachGraph(parseModel(written).graph!, (g) => {
      for (const n of g.node ?? []) ops[n.opType!] = (ops[n.opType!] ?? 0) + 1;
    });
    expect(ops.MatMulNBits).toBe(9); // 2 × (qkv, proj, fc1, fc2) + head
    expect(ops.MatMul).toBe(4); // the activation × activation products of attention stay
    expect(ops.DequantizeLinear).toBe(38);
    expect(written.length).toBeLessThan(original.length * 0.35);
    const names = new Set(parseModel(written).graph!.node!.flatMap((n) => n.output ?? []));
    expect(names.has('linear_85.w_0')).toBe(false);
    expect(names.has('conv2d_143.w_0')).toBe(false);
  });

  test('the report matches the bytes written and the policy', () => {
    const { report } = result;
    expectReportMatchesModel(written, report);
    expect(report.originalBytes).toBe(reportWeights(parseModel(original)).originalBytes);
    const byRole = (role: string) => report.weights.filter((w) => w.role === role);
    // Attention recognised by structure: PP-OCR names them linear_77.w_0 etc., nothing says "attention".
    expect(
      byRole('attention')
        .map((w) => w.name)
        .sort(),
    ).toEqual(['linear_77.w_0', 'linear_78.w_0', 'linear_81.w_0', 'linear_82.w_0']);
    expect(byRole('head').map((w) => w.name)).toEqual(['linear_85.w_0']);
    const mixed = policy.mixedPrecision;
    for (const w of byRole('attention')) expect(w.precision).toBe(mixed ? 8 : policy.bits);
    for (const w of byRole('head')) expect(w.precision).toBe(mixed ? 8 : policy.bits);
    for (const w of byRole('linear')) expect(w.precision).toBe(policy.bits);
    for (const w of byRole('conv')) expect([w.precision, w.format]).toEqual([8, 'DequantizeLinear']);
    for (const w of [...byRole('norm'), ...byRole('bias')]) expect([w.precision, w.format]).toEqual([32, 'float']);
    expect(report.preQuantized.detected).toBe(false);
  });

  test(`loads, runs, and agrees with fp32 (mean probability cosine > ${minCosine})`, () => {
    // Mean over the lines: one frame near a blank/space tie moves a single line's cosine to ~0.93 even at 8 bits.
    const cosines = TEXTS.map((_, i) => cosine(fp32[i]!.probs, readings[i]!.probs));
    const meanCosine = cosines.reduce((a, b) => a + b, 0) / cosines.length;
    expect(meanCosine).toBeGreaterThan(minCosine);
    const accuracy = TEXTS.reduce((s, t, i) => s + characterAccuracy(t, readings[i]!.text), 0) / TEXTS.length;
    if (policy.bits >= 4) expect(readings.map((r) => r.text)).toEqual(TEXTS);
    else expect(accuracy).toBeGreaterThanOrEqual(policy.mixedPrecision ? 0.95 : 0.85);
    console.info(
      `PP-OCR ${_label}: read ${JSON.stringify(readings.map((r) => r.text))}, character accuracy ${accuracy.toFixed(3)}, ` +
        `probability cosine mean ${meanCosine.toFixed(4)} [${cosines.map((c) => c.toFixed(4)).join(', ')}], ` +
        `weights ${result.report.modelBytes} of ${result.report.originalBytes} bytes`,
    );
  });
});

test('PP-OCRv4 rec at 16 bits: fp16 weights + Cast, flagged as possibly expanded by the runtime', async () => {
  const model = parseModel(original);
  const { report } = rewriteModel(model, makePolicy({ bits: 16 }));
  const written = serializeModel(model);
  expectReportMatchesModel(written, report);
  const quantizable = report.weights.filter((w) => ['attention', 'head', 'linear', 'conv'].includes(w.role ?? ''));
  expect(quantizable.length).toBe(47);
  for (const w of quantizable) expect([w.precision, w.format, w.bytes * 2]).toEqual([16, 'fp16-cast', w.originalBytes]);
  expect(report.mayExpandAtRuntime.length).toBe(47);
  const readings = await read(written, keys);
  expect(readings.map((r) => r.text)).toEqual(TEXTS);
  for (let i = 0; i < TEXTS.length; i++) expect(cosine(fp32[i]!.probs, readings[i]!.probs)).toBeGreaterThan(0.9999);
});
