/**
 * The text-generation workloads: a generated Llama-shaped and Qwen2-shaped model in the Hugging Face ONNX layout
 * (tools/hub-models: real tokenizers and chat templates, GQA graphs, random weights), served from the bench's
 * mirror of the model host, where webq downloads them by registry id and transformers.js by repo name — the same
 * files. Two builds each:
 *  - test: the e2e tests' graphs (hidden 32, 2 layers), for the smoke test;
 *  - bench: hidden 256, 4 layers, 8 query / 2 key-value heads, FFN 688 (Llama-3.2-1B's proportions at a size
 *    SwiftShader and one wasm thread run in seconds), over the full vocabularies (128,256 / 151,936 ids).
 * What a random model says is not the point; the tokens/s of the same graph under two runtimes is, and both runtimes
 * must pick the same greedy tokens (checked per row).
 */
import type { DecoderLmSpec } from '../../tools/hub-models/decoder-lm';
import type { HubFiles } from '../../tools/hub-mirror';

export type GenWorkloadId = 'llama-gen-test' | 'qwen2-gen-test' | 'llama-gen-bench' | 'qwen2-gen-bench';
export const GEN_TEST_BUILDS: readonly GenWorkloadId[] = ['llama-gen-test', 'qwen2-gen-test'];
export const GEN_BENCH_BUILDS: readonly GenWorkloadId[] = ['llama-gen-bench', 'qwen2-gen-bench'];

export interface ChatMessage {
  role: 'system' | 'user';
  content: string;
}

export interface GenWorkload {
  kind: 'generation';
  id: GenWorkloadId;
  label: string;
  /** the registry id webq runs */
  model: 'llama-3.2-1b-instruct' | 'qwen2.5-0.5b-instruct';
  /** the hub repo both download (transformers.js names it; webq's registry maps the id to it) */
  repo: string;
  /** path prefix of the mirror on the bench server */
  mirror: string;
  build: 'test' | 'bench';
  files(): Promise<HubFiles>;
  /** the fixed prompt, as chat messages (both runtimes render the repo's chat template with a generation prompt) */
  messages: readonly ChatMessage[];
}

/** Llama-3.2-1B's head size (64 → 32 here) and 4:1 grouped-query ratio, at a width this machine runs in seconds. */
export const BENCH_SHAPE: Partial<DecoderLmSpec> = { hidden: 256, heads: 8, kvHeads: 2, layers: 4, intermediate: 688 };

/** A fixed two-turn prompt: ~60 tokens with either chat template. */
export const GEN_MESSAGES: readonly ChatMessage[] = Object.freeze([
  { role: 'system', content: 'You are a helpful assistant who answers in short, plain sentences.' },
  {
    role: 'user',
    content:
      'A train leaves the station at nine in the morning and travels at sixty miles per hour. ' +
      'When does it reach a town one hundred and fifty miles away, and what should I pack for the trip?',
  },
]);

function memo<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | null = null;
  return () => (value ??= make());
}

const shapeLabel = (s: Partial<DecoderLmSpec> & Pick<DecoderLmSpec, 'vocabSize'>, layers: number, hidden: number) =>
  `${layers} layers × ${hidden}, ${s.heads} query / ${s.kvHeads} key-value heads, ${s.vocabSize.toLocaleString('en-US')}-token vocab`;

// Imported when first needed: the generators pull in onnx-proto (see bench/lib/esm-hooks.mjs).
export function genWorkload(id: GenWorkloadId): GenWorkload {
  const build: GenWorkload['build'] = id.endsWith('-test') ? 'test' : 'bench';
  const shape = build === 'bench' ? BENCH_SHAPE : {};
  const common = { kind: 'generation' as const, id, build, mirror: `/hub/gen-${build}`, messages: GEN_MESSAGES };
  if (id.startsWith('llama')) {
    const spec = { hidden: 32, heads: 4, kvHeads: 2, layers: 2, vocabSize: 128256, ...shape };
    return {
      ...common,
      model: 'llama-3.2-1b-instruct',
      repo: 'onnx-community/Llama-3.2-1B-Instruct',
      label: `Llama-shaped, ${build} build (${shapeLabel(spec, spec.layers, spec.hidden)}; Llama 3 tokenizer and chat template)`,
      files: memo(async () => (await import('../../tools/hub-models/llama')).llamaHubFiles({ spec: shape })),
    };
  }
  const spec = { hidden: 32, heads: 4, kvHeads: 2, layers: 2, vocabSize: 151936, ...shape };
  return {
    ...common,
    model: 'qwen2.5-0.5b-instruct',
    repo: 'onnx-community/Qwen2.5-0.5B-Instruct',
    label: `Qwen2-shaped, ${build} build (${shapeLabel(spec, spec.layers, spec.hidden)}, q/k/v biases; Qwen tokenizer and chat template)`,
    files: memo(async () => (await import('../../tools/hub-models/qwen2')).qwen2HubFiles({ spec: shape })),
  };
}
