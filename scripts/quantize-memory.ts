/**
 * Peak memory of load-time quantization from external data (docs/generation.md): a generated Llama-shaped model of a
 * few hundred MB is written in the hub's layout (`model.onnx` + `model.onnx_data`), then prepared at the text
 * profile's policy (4-bit, mixed precision) exactly as the engine's preparation worker does (prepare.ts). A worker
 * thread samples the process's resident memory every 2 ms while the main thread quantizes; the figure is the peak
 * above what was resident before (the data file is already held then, as in the engine).
 *
 *   node --expose-gc --import tsx scripts/quantize-memory.ts [layers=16] [hidden=512]
 * (`npx tsx scripts/quantize-memory.ts` works too, without the collection before measuring.)
 */
import { register } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { PrecisionPolicy } from '../extension/onnx';

// Before anything imports onnx-proto by name (a CommonJS package Node's ESM loader cannot link; see the hooks).
register('../bench/lib/esm-hooks.mjs', import.meta.url);
const { prepareModel } = await import('../extension/host/prepare');
const { toExternalData } = await import('../tools/external-data');
const { decoderLmModel } = await import('../tools/hub-models/decoder-lm');

const layers = Number(process.argv[2] ?? 16);
const hidden = Number(process.argv[3] ?? 512);
const POLICY: PrecisionPolicy = {
  bits: 4,
  scheme: 'symmetric',
  groupSize: 128,
  mixedPrecision: true,
  attentionPrecision: 8,
  embeddingPrecision: 8,
  skipLayerNorm: true,
};
const MB = 2 ** 20;

/** Samples RSS on another thread (the quantizer blocks this one) and answers with the peak when asked. */
function sampler(): { peak(): Promise<number>; stop(): Promise<number> } {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     let peak = 0;
     const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 2);
     parentPort.on('message', (m) => { parentPort.postMessage(peak); if (m === 'stop') { clearInterval(timer); parentPort.close(); } else peak = 0; });`,
    { eval: true },
  );
  const ask = (m: string) =>
    new Promise<number>((resolve) => {
      worker.once('message', resolve);
      worker.postMessage(m);
    });
  return { peak: () => ask('reset'), stop: () => ask('stop') };
}

async function measure(label: string, run: () => { bytes: Uint8Array }): Promise<void> {
  const watch = sampler();
  await new Promise((r) => setTimeout(r, 50));
  await watch.peak(); // reset
  const before = process.memoryUsage.rss();
  const started = performance.now();
  const out = run();
  const ms = performance.now() - started;
  await new Promise((r) => setTimeout(r, 20));
  const peak = await watch.stop();
  console.log(
    `${label}: output ${(out.bytes.byteLength / MB).toFixed(1)} MiB in ${(ms / 1000).toFixed(1)} s; ` +
      `RSS before ${(before / MB).toFixed(0)} MiB, peak ${(peak / MB).toFixed(0)} MiB (+${((peak - before) / MB).toFixed(0)} MiB)`,
  );
}

const spec = {
  hidden,
  heads: hidden / 64,
  kvHeads: Math.max(1, hidden / 256),
  layers,
  intermediate: hidden * 4,
  vocabSize: 32000,
  ropeTheta: 10000,
  rmsEps: 1e-6,
  qkvBias: true,
  positionIds: true,
};
let inline: Uint8Array | null = decoderLmModel(spec, 1);
const { graph, data } = toExternalData(inline);
inline = null;
(globalThis as { gc?: () => void }).gc?.();
console.log(
  `model: ${layers} layers, hidden ${hidden}, vocabulary 32000; graph ${(graph.byteLength / MB).toFixed(2)} MiB + ` +
    `model.onnx_data ${(data.byteLength / MB).toFixed(1)} MiB (fp32)`,
);
await measure('quantize from external data', () => prepareModel(graph, POLICY, [{ path: 'model.onnx_data', data }]));
