/**
 * The registry models as the benchmark runs them: by id (`webq.run('bert-base-uncased', text, …)`), from a local
 * mirror of the model host in the Hugging Face layout, with the inputs a site would pass (strings, a canvas drawn in
 * the page, audio samples). No pretrained BERT, ViT or Whisper is reachable offline here, so the repos are the
 * generated hub models of tools/hub-models — real-format tokenizers and configs, random weights — in two
 * builds each:
 *  - test: the e2e tests' defaults (tiny; seconds per cell), in the quick matrix;
 *  - seed: the seed table's sizes (BERT-base, ViT-base, Whisper-tiny shapes), in the seed and full matrices.
 * Latency and memory depend on shapes, not on what the weights learned; the agreement with fp32 (cosine, top label,
 * text) shows what quantization does to these weights, not to the pretrained ones.
 */
import { speech16k } from '../../tools/fixtures';
import type { HubFiles } from '../../tools/hub-mirror';
import type { TaskInputSpec } from '../page/wire';

export type RegistryId = 'bert-base-uncased' | 'vit-base-patch16-224' | 'whisper-tiny';
export type TaskWorkloadId =
  'bert-id-test' | 'vit-id-test' | 'whisper-id-test' | 'bert-id-base' | 'vit-id-base' | 'whisper-id-tiny';

export const TEST_BUILDS: readonly TaskWorkloadId[] = ['bert-id-test', 'vit-id-test', 'whisper-id-test'];
export const SEED_BUILDS: readonly TaskWorkloadId[] = ['bert-id-base', 'vit-id-base', 'whisper-id-tiny'];

export interface TaskWorkload {
  kind: 'task';
  id: TaskWorkloadId;
  label: string;
  /** the registry id passed to webq.run */
  model: RegistryId;
  repo: string;
  /** path prefix of the mirror on the bench server; the options page's model host is `{origin}{mirror}` */
  mirror: string;
  build: 'test' | 'seed';
  /** the repo's files (generated on first use, then kept: the seed builds take seconds and ~0.4 GB each) */
  files(): Promise<HubFiles>;
  /** the input, built in the page once per browser */
  input(): Promise<TaskInputSpec>;
  /** task options every call passes (topK: every label, so the agreement check sees the whole distribution) */
  runOptions: Record<string, unknown>;
}

const MIRRORS = { test: '/hub/test', seed: '/hub/seed' } as const;
const REPOS: Record<RegistryId, string> = {
  'bert-base-uncased': 'Xenova/bert-base-uncased',
  'vit-base-patch16-224': 'Xenova/vit-base-patch16-224',
  'whisper-tiny': 'Xenova/whisper-tiny',
};

/**
 * One English text of 126 words of the test vocab (every word one token): 128 tokens with [CLS] and [SEP], the
 * sequence length of the raw BERT-base-sized encoder. The test build's 64 positions cut it to 64 tokens.
 */
async function benchText(): Promise<string> {
  const { BERT_VOCAB } = await import('../../tools/hub-models/bert');
  const words = BERT_VOCAB.filter((w) => /^[a-z]+$/.test(w));
  return Array.from({ length: 126 }, (_, i) => words[i % words.length]).join(' ');
}
let text: string | null = null;

/** A 640×480 scene: a red ground with a yellow, a blue and a white block (resized to 224×224 by the pipeline). */
const IMAGE: TaskInputSpec = {
  kind: 'image',
  width: 640,
  height: 480,
  fill: '#d01818',
  rects: [
    { x: 40, y: 40, w: 120, h: 90, color: '#ffd000' },
    { x: 400, y: 260, w: 160, h: 140, color: '#2040c0' },
    { x: 250, y: 100, w: 60, h: 300, color: '#ffffff' },
  ],
};

function memo<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | null = null;
  return () => (value ??= make());
}

const inputs: Record<RegistryId, () => Promise<TaskInputSpec>> = {
  'bert-base-uncased': async () => ({ kind: 'text', text: (text ??= await benchText()) }),
  'vit-base-patch16-224': async () => IMAGE,
  'whisper-tiny': async () => ({ kind: 'audio', samples: Array.from(speech16k()), sampleRate: 16000 }),
};

// The generators are imported when first needed: they pull in onnx-proto, which plain Node ESM (tsx) only loads
// through bench/lib/esm-hooks.mjs, registered by bench/run.ts before any workload is built.
export function taskWorkload(id: TaskWorkloadId): TaskWorkload {
  const base = (model: RegistryId, build: 'test' | 'seed') => ({
    kind: 'task' as const,
    id,
    model,
    repo: REPOS[model],
    mirror: MIRRORS[build],
    build,
    input: inputs[model],
  });
  switch (id) {
    case 'bert-id-test':
      return {
        ...base('bert-base-uncased', 'test'),
        runOptions: {},
        label:
          'bert-base-uncased by id, test build (2 layers × 64, 73-token vocab; the 126-word text cut to its 64 positions)',
        files: memo(async () => (await import('../../tools/hub-models/bert')).bertHubFiles()),
      };
    case 'bert-id-base':
      return {
        ...base('bert-base-uncased', 'seed'),
        runOptions: {},
        label:
          'bert-base-uncased by id at BERT-base size (12 layers × 768, 12 heads, FFN 3072, 30,522-token vocab; 128 tokens)',
        files: memo(async () => {
          const m = await import('../../tools/hub-models/bert');
          return m.bertHubFiles(1234, m.BERT_BASE_SIZE);
        }),
      };
    case 'vit-id-test':
      return {
        ...base('vit-base-patch16-224', 'test'),
        runOptions: { topK: 1000 },
        label: 'vit-base-patch16-224 by id, test build (1 layer × 64, 10 labels; a 640×480 canvas)',
        files: memo(async () => (await import('../../tools/hub-models/vit')).vitHubFiles()),
      };
    case 'vit-id-base':
      return {
        ...base('vit-base-patch16-224', 'seed'),
        runOptions: { topK: 1000 },
        label:
          'vit-base-patch16-224 by id at ViT-base size (12 layers × 768, 12 heads, MLP 3072, 224×224, 1000 labels; a 640×480 canvas)',
        files: memo(async () => {
          const m = await import('../../tools/hub-models/vit');
          return m.vitHubFiles(m.VIT_BASE_SIZE);
        }),
      };
    case 'whisper-id-test':
      return {
        ...base('whisper-tiny', 'test'),
        runOptions: {},
        label:
          'whisper-tiny by id, test build (64 wide, projection encoder, 2 decoder layers; 5.4 s of espeak-ng speech at 16 kHz)',
        files: memo(async () => (await import('../../tools/hub-models/whisper')).whisperHubFiles()),
      };
    case 'whisper-id-tiny':
      return {
        ...base('whisper-tiny', 'seed'),
        runOptions: {},
        label:
          'whisper-tiny by id at Whisper-tiny size (d_model 384, 6 heads, 4 + 4 layers, 51,865-token vocab, 80 mels × 3000 frames; the same speech)',
        files: memo(async () => {
          const m = await import('../../tools/hub-models/whisper');
          return m.whisperHubFiles(1234, m.WHISPER_TINY_SIZE);
        }),
      };
  }
}
