/**
 * Quantized against fp32 on onnxruntime-web's wasm EP, in Node on onnxruntime-web's own wasm build (the browser's
 * engine without a browser: the same .wasm the extension loads). Two encoders with random weights
 * (bench/models/bert.ts): BERT-base-sized (12 layers, hidden 768, FFN 3072, 128 tokens) and ViT-base-sized (the same
 * layers over ViT-base's 197 tokens). Arms:
 *  - fp32;
 *  - webq's 4- and 8-bit MatMulNBits graphs (group 32) as onnxruntime computes them, and the 4-bit one with
 *    `accuracy_level` 4 (int8 activations: a no-op on wasm);
 *  - the same graphs in webq's wasm execution form (extension/onnx/integer-matmul.ts: int8 weights per column,
 *    activations quantized per call, MatMulInteger);
 *  - onnxruntime's own dynamic quantization of the fp32 graph, for reference (int8 straight from fp32).
 * Each round runs every arm in a rotating order; medians, the output's cosine with fp32's and with the same bits'
 * MatMulNBits output ("as today"), and the largest difference from fp32.
 *
 *   npx tsx bench/wasm-int8.ts [--rounds 5] [--threads 1,2]
 *
 * Writes bench/results/wasm-int8.json.
 */
import { register } from 'node:module';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';

register('./lib/esm-hooks.mjs', import.meta.url);
const ort = await import('onnxruntime-web');
const { onnx } = await import('onnx-proto');
const { BERT_BASE, bertEncoderModel, bertInput } = await import('./models/bert');
const { toIntegerMatMuls } = await import('../extension/onnx/integer-matmul');
const { prepareModel } = await import('../extension/host/prepare');
const { makePolicy } = await import('../extension/onnx/policy');
const { intAttr, makeNode, parseModel, serializeModel } = await import('../extension/onnx/model');
const { timeGraphs, withAccuracyLevel } = await import('./lib/arms');
const { DataType, floatTensor, rawTensor, readFloats } = await import('../extension/onnx/tensor');
const { cosine, median } = await import('./lib/stats');

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, threads: { type: 'string', default: '1,2' } },
});
const rounds = Number(values.rounds);

/**
 * The fp32 graph with every MatMul on a [K, N] weight as onnxruntime's dynamic quantization writes it: the weight int8
 * per column (symmetric, scale max|w|/127), the activations quantized to uint8 at run time (DynamicQuantizeLinear),
 * MatMulInteger, then the int32 sums back to float times both scales (onnxruntime fuses this into
 * DynamicQuantizeMatMul, on MLAS's integer GEMM, which has WebAssembly SIMD kernels).
 */
function withMatMulInteger(bytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const weights = new Map(graph.initializer!.map((t) => [t.name!, t]));
  const nodes: import('onnx-proto').onnx.INodeProto[] = [];
  for (const node of graph.node!) {
    const w = node.opType === 'MatMul' ? weights.get(node.input![1]!) : undefined;
    if (!w || w.dims!.length !== 2) {
      nodes.push(node);
      continue;
    }
    const [K, N] = w.dims!.map(Number) as [number, number];
    const values = readFloats(w);
    const scales = new Float32Array(N);
    for (let k = 0; k < K; k++)
      for (let n = 0; n < N; n++) scales[n] = Math.max(scales[n]!, Math.abs(values[k * N + n]!) / 127);
    const q = new Int8Array(K * N);
    for (let k = 0; k < K; k++)
      for (let n = 0; n < N; n++) q[k * N + n] = Math.round(values[k * N + n]! / (scales[n]! || 1));
    const p = node.name!;
    graph.initializer!.push(
      rawTensor(`${p}.qw`, DataType.INT8, [K, N], new Uint8Array(q.buffer)),
      rawTensor(`${p}.qw_zero`, DataType.INT8, [N], new Uint8Array(N)),
      floatTensor(`${p}.qw_scale`, [N], scales),
    );
    const [a] = node.input!;
    nodes.push(
      makeNode('DynamicQuantizeLinear', [a!], [`${p}.qa`, `${p}.qa_scale`, `${p}.qa_zero`], `${p}.dql`),
      makeNode('MatMulInteger', [`${p}.qa`, `${p}.qw`, `${p}.qa_zero`, `${p}.qw_zero`], [`${p}.int`], `${p}.mmi`),
      makeNode('Cast', [`${p}.int`], [`${p}.float`], `${p}.cast`, [intAttr('to', DataType.FLOAT)]),
      makeNode('Mul', [`${p}.qa_scale`, `${p}.qw_scale`], [`${p}.scale`], `${p}.scales`),
      makeNode('Mul', [`${p}.float`, `${p}.scale`], node.output!, `${p}.rescale`),
    );
    weights.delete(w.name!);
    graph.initializer = graph.initializer!.filter((t) => t !== w);
  }
  graph.node = nodes;
  return onnx.ModelProto.encode(model).finish();
}

/** webq's wasm execution form of a quantized graph. */
function webqInt8(bytes: Uint8Array): Uint8Array {
  const model = parseModel(bytes);
  if (toIntegerMatMuls(model).rewritten === 0) throw new Error('no MatMulNBits rewritten');
  return serializeModel(model);
}

const SHAPES = { 'BERT-base-sized': BERT_BASE, 'ViT-base-sized': { ...BERT_BASE, seq: 197 } };
const results: Record<string, unknown>[] = [];
for (const [shapeName, shape] of Object.entries(SHAPES)) {
  const fp32 = bertEncoderModel(shape);
  const quantized = (bits: 4 | 8) =>
    prepareModel(fp32, makePolicy({ bits, scheme: 'symmetric', groupSize: 32, skipLayerNorm: true })).bytes;
  const q4 = quantized(4);
  const q8 = quantized(8);
  const arms: Record<string, Uint8Array> = {
    fp32,
    '4-bit MatMulNBits': q4,
    '4-bit, accuracy_level 4': withAccuracyLevel(q4, 4),
    '4-bit, webq int8 form': webqInt8(q4),
    '8-bit MatMulNBits': q8,
    '8-bit, webq int8 form': webqInt8(q8),
    'ORT dynamic int8 (fp32)': withMatMulInteger(fp32),
  };
  /** The output each arm is compared with "as today": the same bits' MatMulNBits graph. */
  const today = (arm: string) =>
    arm.startsWith('4-bit') ? '4-bit MatMulNBits' : arm.startsWith('8-bit') ? '8-bit MatMulNBits' : 'fp32';
  const feeds = { x: new ort.Tensor('float32', bertInput(shape), [1, shape.seq, shape.hidden]) };
  for (const threads of values.threads!.split(',').map(Number)) {
    ort.env.wasm.numThreads = threads;
    const create = (bytes: Uint8Array) => ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    const { outputs, times } = await timeGraphs(arms, create, feeds, 'y', rounds);
    const names = Object.keys(arms);
    const base = median(times.fp32!);
    for (const name of names) {
      let diff = 0;
      for (let i = 0; i < outputs.fp32!.length; i++)
        diff = Math.max(diff, Math.abs(outputs[name]![i]! - outputs.fp32![i]!));
      const ms = median(times[name]!);
      const cos = cosine(outputs[name]!, outputs.fp32!);
      const cosToday = cosine(outputs[name]!, outputs[today(name)]!);
      results.push({
        shape: shapeName,
        threads,
        arm: name,
        medianMs: ms,
        speedupVsFp32: base / ms,
        cosineVsFp32: cos,
        cosineVsMatMulNBits: cosToday,
        maxAbsDiffVsFp32: diff,
      });
      console.log(
        `${shapeName}  ${threads} thread(s)  ${name.padEnd(24)} ${ms.toFixed(0).padStart(6)} ms  ×${(base / ms).toFixed(2)} vs fp32` +
          `  cosine ${cos.toFixed(5)} (vs MatMulNBits ${cosToday.toFixed(5)})  max |Δ| ${diff.toExponential(1)}`,
      );
    }
  }
}
const device = `${cpus()[0]?.model ?? 'cpu'}, ${cpus().length} cores; onnxruntime-web ${ort.env.versions.web} wasm in Node ${process.version}`;
writeFileSync(
  new URL('./results/wasm-int8.json', import.meta.url),
  `${JSON.stringify({ device, rounds, shapes: SHAPES, results }, null, 2)}\n`,
);
console.log(device);
