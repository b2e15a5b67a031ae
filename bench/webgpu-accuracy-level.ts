/**
 * Does MatMulNBits' `accuracy_level` 4 (int8 activations; onnxruntime's WebGPU EP has a DP4A program for it) make
 * webq's quantized graphs faster on the WebGPU EP? The BERT-base-sized encoder's layers (bench/models/bert.ts:
 * hidden 768, FFN 3072, 128 tokens; `--layers` of them) as fp32 and quantized by webq's rewrite to 4 and 8 bits
 * (group 32), with accuracy_level 0 (what webq writes) and 4, on onnxruntime-node's WebGPU EP: the same C++ EP that
 * onnxruntime-web runs in the browser, here on Dawn over whatever Vulkan adapter the machine has (SwiftShader with
 * VK_ICD_FILENAMES on a machine without a GPU). Each round runs every arm in a rotating order; medians, and the
 * output's cosine with fp32's and with the same bits' level-0 output.
 *
 *   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json npx tsx bench/webgpu-accuracy-level.ts [--rounds 3]
 *     [--layers 2]
 *
 * Writes bench/results/webgpu-accuracy-level.json.
 */
import { register } from 'node:module';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

register('./lib/esm-hooks.mjs', import.meta.url);
const ort = await import('onnxruntime-node');
const { BERT_BASE, bertEncoderModel, bertInput } = await import('./models/bert');
const { prepareModel } = await import('../extension/host/prepare');
const { makePolicy } = await import('../extension/onnx/policy');
const { timeGraphs, withAccuracyLevel } = await import('./lib/arms');
const { cosine, median } = await import('./lib/stats');

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, layers: { type: 'string', default: '2' } },
});
const rounds = Number(values.rounds);
const shape = { ...BERT_BASE, layers: Number(values.layers) };

const fp32 = bertEncoderModel(shape);
const quantized = (bits: 4 | 8) =>
  prepareModel(fp32, makePolicy({ bits, scheme: 'symmetric', groupSize: 32, skipLayerNorm: true })).bytes;
const arms: Record<string, Uint8Array> = { fp32 };
for (const bits of [4, 8] as const) {
  const q = quantized(bits);
  arms[`${bits}-bit, accuracy_level 0`] = q;
  arms[`${bits}-bit, accuracy_level 4`] = withAccuracyLevel(q, 4);
}
const feeds = { x: new ort.Tensor('float32', bertInput(shape), [1, shape.seq, shape.hidden]) };
const create = (bytes: Uint8Array) => ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] });
const { outputs, times } = await timeGraphs(arms, create, feeds, 'y', rounds);
const names = Object.keys(arms);
const base = median(times.fp32!);
const results = names.map((name) => {
  const level0 = name.replace('accuracy_level 4', 'accuracy_level 0');
  const row = {
    arm: name,
    medianMs: median(times[name]!),
    speedupVsFp32: base / median(times[name]!),
    speedupVsLevel0: median(times[level0]!) / median(times[name]!),
    cosineVsFp32: cosine(outputs[name]!, outputs.fp32!),
    cosineVsLevel0: cosine(outputs[name]!, outputs[level0]!),
  };
  console.log(
    `${name.padEnd(24)} ${row.medianMs.toFixed(0).padStart(6)} ms  ×${row.speedupVsFp32.toFixed(2)} vs fp32` +
      `  ×${row.speedupVsLevel0.toFixed(2)} vs level 0  cosine ${row.cosineVsFp32.toFixed(5)} (vs level 0 ` +
      `${row.cosineVsLevel0.toFixed(5)})`,
  );
  return row;
});
const device = `onnxruntime-node ${ort.env.versions.node ?? ''} WebGPU EP, Vulkan ICD ${process.env.VK_ICD_FILENAMES ?? '(default)'}`;
writeFileSync(
  new URL('./results/webgpu-accuracy-level.json', import.meta.url),
  `${JSON.stringify({ device, rounds, shape, results }, null, 2)}\n`,
);
console.log(device);
