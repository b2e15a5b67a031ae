/**
 * Which decode engine runs a text-generation request (SPEC §8 `engine`): webq's own (native/decoder.ts, on the
 * engine host's GPUDevice) or onnxruntime-web. The native decoder is built on the first request that may use it,
 * from the prepared graph's bytes (kept for it by the plan's `native`, then dropped: onnxruntime holds its own copy),
 * so it reads the very weights onnxruntime runs; nothing is downloaded or quantized again.
 *
 *   'ort'   onnxruntime-web.
 *   'webq'  webq's engine, or NotSupportedError saying why it cannot run this model.
 *   'auto'  onnxruntime-web where the graph does not map onto webq's engine (`fallbacks` says why), else the faster
 *           of the two as measured on this adapter (engine-choice.ts; the engine asks).
 */
import { NativeDecoder, type NativeDecoderOptions } from '../native/decoder';
import { isNotNative, readDecoderWeights } from '../native/decoder-weights';
import { parseModel } from '../onnx/model';
import { WebqError } from '../shared/errors';
import type { NormalizedOptions } from '../shared/options';
import type { TextGenerationAssets } from '../tasks/generation';
import { graphContextWindow } from '../tasks/generation/model-config';
import type { GpuInfo } from './gpu';
import type { LoadedGraph } from './graph-session';

/**
 * The native decoder for this request where the engine option and the graph allow it, or undefined for onnxruntime
 * (under 'auto', noting why in `fallbacks`).
 */
export function nativeDecoderFor(
  graph: LoadedGraph,
  assets: TextGenerationAssets,
  options: NormalizedOptions,
  gpu: GpuInfo | null,
  fallbacks: string[],
  tiles?: Pick<NativeDecoderOptions, 'gemv' | 'gemm'>,
): NativeDecoder | undefined {
  const engine = options.engine ?? 'auto';
  if (engine === 'ort') return undefined;
  if (!graph.native) graph.native = build(graph, assets, gpu, tiles);
  const native = graph.native!;
  if (!isNotNative(native)) return native;
  if (engine === 'webq')
    throw new WebqError('NotSupportedError', `option engine 'webq': webq's decode engine ${native.notNative}`);
  fallbacks.push(`engine auto: onnxruntime-web (webq's decode engine ${native.notNative})`);
  return undefined;
}

function build(
  graph: LoadedGraph,
  assets: TextGenerationAssets,
  gpu: GpuInfo | null,
  tiles: Pick<NativeDecoderOptions, 'gemv' | 'gemm'> | undefined,
): LoadedGraph['native'] {
  if (graph.target.backend !== 'webgpu') return { notNative: `runs on WebGPU, not ${graph.target.backend}` };
  if (!gpu) return { notNative: 'needs WebGPU, which is not available' };
  if (isNotNative(assets.native)) return { notNative: `cannot read config.json: ${assets.native.notNative}` };
  const bytes = graph.bytes;
  if (!bytes) return { notNative: 'was not planned for this load (it kept no weights to read)' };
  if (graph.externalData?.length) return { notNative: 'does not read external data files yet' };
  try {
    const weights = readDecoderWeights(parseModel(bytes), assets.config, assets.native);
    if (isNotNative(weights)) return { notNative: `cannot run this graph: ${weights.notNative}` };
    return new NativeDecoder(gpu.device, weights, {
      maxPositions: graphContextWindow(assets.config, graph.io.groupQueryAttention),
      // The options page's calibration on this adapter, when there is one.
      ...(tiles ? { ...tiles, tilesFrom: "the options page's calibration on this adapter" } : {}),
    });
  } catch (err) {
    if (err instanceof RangeError) return { notNative: `cannot run this graph here: ${err.message}` };
    throw err;
  } finally {
    // onnxruntime holds its own copy; the engine's read is done either way.
    graph.bytes = null;
    graph.externalData = null;
  }
}
