/**
 * The baseline: onnxruntime-web/webgpu used directly in a page, as a site would without webq. Same runtime
 * version and the same session options the engine host uses (extension/host/ort.ts), so the only difference
 * measured is webq's path around it: as many wasm threads as the engine host (the bench server makes this page
 * cross-origin isolated, as the manifest makes the engine's), graph optimisation "all",
 * WebGPU in NCHW on a device asked for like the host's (adapter limits, shader-f16/subgroups/timestamp-query).
 *
 * Quantized variants are prepared here with webq's own prepareModel (same code, same policy, and on wasm the same
 * integer form of the MatMuls: plan.ts `integerMatMul`) before the session is created, untimed, so both sides run
 * identical bytes.
 */
import * as ort from 'onnxruntime-web/webgpu';
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';
import { prepareModel } from '../../extension/host/prepare';
import type { BaselinePolicy, PageTensor } from './wire';
import { openDevice } from '../../kernels/device';
import { baselineThreads } from './threads';
import { STOP_SPINNING_AFTER_RUNS } from '../../extension/host/spinning';

ort.env.wasm.wasmPaths = { wasm: new URL(wasmUrl, location.href).href };
// Read when this module is first imported, after the bench set the engine's count (ORT reads it once, at init).
ort.env.wasm.numThreads = baselineThreads();
ort.env.wasm.proxy = false;
ort.env.logLevel = 'error';

let device: Promise<GPUDevice> | null = null;
async function gpuDevice(): Promise<GPUDevice> {
  device ??= openDevice(navigator.gpu, ['shader-f16', 'subgroups', 'timestamp-query']).then((opened) => {
    if (!opened) throw new Error('no WebGPU adapter in the baseline page');
    return opened.device;
  });
  return device;
}

const sessions = new Map<string, ort.InferenceSession>();

export interface BaselineLoad {
  createMs: number;
  fetchMs: number;
  prepareMs: number;
  bytes: number;
}

export async function load(
  url: string,
  backend: 'wasm' | 'webgpu',
  policy: BaselinePolicy | null,
): Promise<BaselineLoad> {
  await release(url);
  let t = performance.now();
  const source = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const fetchMs = performance.now() - t;
  t = performance.now();
  const bytes = policy
    ? prepareModel(
        source,
        {
          ...policy,
          mixedPrecision: false,
          attentionPrecision: 8,
          embeddingPrecision: 8,
          skipLayerNorm: true,
        },
        [],
        { integerMatMul: backend === 'wasm' },
      ).bytes
    : source;
  const prepareMs = performance.now() - t;
  const providers: ort.InferenceSession.ExecutionProviderConfig[] =
    backend === 'webgpu'
      ? [
          {
            name: 'webgpu',
            device: await gpuDevice(),
            preferredLayout: 'NCHW',
          } as ort.InferenceSession.WebGpuExecutionProviderOption,
        ]
      : ['wasm'];
  t = performance.now();
  sessions.set(
    url,
    await ort.InferenceSession.create(bytes, {
      executionProviders: providers,
      graphOptimizationLevel: 'all',
      extra: STOP_SPINNING_AFTER_RUNS, // as the engine host's sessions (extension/host/spinning.ts)
    }),
  );
  return { createMs: performance.now() - t, fetchMs, prepareMs, bytes: bytes.byteLength };
}

/** One run as a page would do it: tensors made from the page's arrays, outputs read back to the CPU. */
export async function run(
  url: string,
  feeds: Record<string, PageTensor>,
): Promise<{ outputs: Record<string, PageTensor>; ms: number }> {
  const session = sessions.get(url);
  if (!session) throw new Error(`baseline: ${url} is not loaded`);
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  const started = performance.now();
  const results = await session.run(ortFeeds);
  const ms = performance.now() - started;
  const outputs: Record<string, PageTensor> = {};
  for (const [name, t] of Object.entries(results)) {
    outputs[name] = { type: t.type as PageTensor['type'], dims: [...t.dims], data: t.data as Float32Array };
    t.dispose();
  }
  return { outputs, ms };
}

export async function release(url: string): Promise<void> {
  const s = sessions.get(url);
  sessions.delete(url);
  await s?.release();
}

export const version = ort.env.versions.web ?? 'unknown';

/**
 * A greedy decode loop on this page's onnxruntime-web (the version webq's engine runs), written as plainly as a page
 * would: prefill with an empty past, then one token at a time with the presents fed back, logits read to the CPU, an
 * argmax. It separates what the runtime version costs from what webq's path adds (bench/lib/measure.ts).
 */
export async function generateLoop(
  url: string,
  prompt: readonly number[],
  newTokens: number,
  shape: { kvHeads: number; headDim: number },
): Promise<{ prefillMs: number; decodeMs: number; tokens: number[] }> {
  const session = sessions.get(url);
  if (!session) throw new Error(`baseline: ${url} is not loaded`);
  const past = new Map<string, ort.Tensor>();
  for (const name of session.inputNames)
    if (name.startsWith('past_key_values.'))
      past.set(name, new ort.Tensor('float32', new Float32Array(0), [1, shape.kvHeads, 0, shape.headDim]));
  const tokens: number[] = [];
  let length = 0;
  const step = async (ids: readonly number[]): Promise<number> => {
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor(
        'int64',
        BigInt64Array.from(ids, (x) => BigInt(x)),
        [1, ids.length],
      ),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(length + ids.length).fill(1n), [
        1,
        length + ids.length,
      ]),
    };
    if (session.inputNames.includes('position_ids'))
      feeds.position_ids = new ort.Tensor(
        'int64',
        BigInt64Array.from(ids, (_, i) => BigInt(length + i)),
        [1, ids.length],
      );
    for (const [name, t] of past) feeds[name] = t;
    const out = await session.run(feeds);
    for (const name of past.keys()) {
      past.get(name)!.dispose();
      past.set(name, out[`present.${name.slice('past_key_values.'.length)}`]!);
    }
    length += ids.length;
    const logits = out.logits!;
    const vocab = logits.dims[2]!;
    const data = logits.data as Float32Array;
    let best = 0;
    for (let i = 1, base = (ids.length - 1) * vocab; i < vocab; i++) if (data[base + i]! > data[base + best]!) best = i;
    logits.dispose();
    return best;
  };
  let t = performance.now();
  tokens.push(await step(prompt));
  const prefillMs = performance.now() - t;
  t = performance.now();
  while (tokens.length < newTokens) tokens.push(await step([tokens[tokens.length - 1]!]));
  const decodeMs = performance.now() - t;
  for (const p of past.values()) p.dispose();
  return { prefillMs, decodeMs, tokens };
}
