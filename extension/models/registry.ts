/**
 * The built-in models (SPEC §5) as data: an id names a repo on the model host and a task; the task's pipeline
 * (extension/tasks) says which graphs and companion files to fetch and how to pre- and post-process. Adding a model
 * of a known task is one entry here, no code.
 *
 * The repos are the ONNX exports transformers.js uses (optimum layout: graphs under `onnx/`, tokenizer and configs
 * at the root), so the default host serves them as they are and a mirror only needs the same paths.
 */
import type { Task } from '../shared/types';

export interface RegistryEntry {
  readonly id: string;
  /** `{owner}/{name}` on the model host. */
  readonly repo: string;
  readonly task: Task;
  readonly description: string;
  /** Graph files by role, where they differ from the task's defaults. */
  readonly graphs?: Readonly<Record<string, string>>;
}

const entries: RegistryEntry[] = [
  {
    id: 'bert-base-uncased',
    repo: 'Xenova/bert-base-uncased',
    task: 'feature-extraction',
    description:
      'BERT base (uncased), 110M parameters: English text → token embeddings and a mean-pooled sentence embedding',
  },
  {
    id: 'vit-base-patch16-224',
    repo: 'Xenova/vit-base-patch16-224',
    task: 'image-classification',
    description: 'ViT base, 16×16 patches at 224×224, ImageNet-1k: image → top-k of 1,000 labels',
  },
  {
    id: 'whisper-tiny',
    repo: 'Xenova/whisper-tiny',
    task: 'automatic-speech-recognition',
    description:
      'Whisper tiny, 39M parameters, multilingual: up to 30 s of audio → text (greedy decoding with a KV cache)',
  },
  {
    id: 'qwen2.5-0.5b-instruct',
    repo: 'onnx-community/Qwen2.5-0.5B-Instruct',
    task: 'text-generation',
    description: 'Qwen2.5 0.5B Instruct: chat messages or a prompt → generated text (GQA, KV cache), streamed',
  },
  {
    id: 'llama-3.2-1b-instruct',
    repo: 'onnx-community/Llama-3.2-1B-Instruct',
    task: 'text-generation',
    description: 'Llama 3.2 1B Instruct: chat messages or a prompt → generated text (GQA, KV cache), streamed',
  },
];

export const REGISTRY: ReadonlyMap<string, RegistryEntry> = new Map(entries.map((e) => [e.id, Object.freeze(e)]));

/** Ids are looked up exactly: 'BERT-base-uncased' is not an id (the hub's repo names are case-sensitive too). */
export function registryEntry(id: string): RegistryEntry | undefined {
  return REGISTRY.get(id);
}
