/**
 * Registry ids in `webq check`: a real input for the id's task (text; an image file, or ImageMagick's built-in
 * photo of a rose; speech by espeak-ng, or a .wav; a prompt for text2text), handed to `window.webq.run(id, input)`
 * as a page would, and how a quantized run's task output is judged against the fp32 run's: embeddings by cosine,
 * labels by the top label, transcripts and text2text answers (greedy) by the text, a chat model's greedy answer by
 * its first tokens.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { readWav } from '../tools/fixtures';
import { IMAGE_TYPES, type ModelSpec } from './args';
import type { Agreement, CheckModel, OutputBrief, TaskInput } from './check-model';
import { COSINE_AGREES, cosine, fromB64, type B64Tensor } from './tensors';

type IdSpec = Extract<ModelSpec, { kind: 'id' }>;

const DEFAULT_TEXT = 'webq runs BERT in the browser, on the GPU or in WebAssembly.';
const DEFAULT_SPEECH = 'Hello, this is a test of speech recognition in the browser.';
const DEFAULT_TEXT2TEXT = 'translate English to German: The house is wonderful.';
/** Enough for a sentence; a limit keeps a model that never says end-of-sequence from running for minutes. */
const TEXT2TEXT_MAX_NEW_TOKENS = 48;
const DEFAULT_PROMPT = 'Name three colours of the rainbow.';
const GENERATION_MAX_NEW_TOKENS = 32;
/**
 * A chat model's greedy answer agrees with fp32's when its first tokens are fp32's: a 4-bit model's answer drifts
 * from the fp32 one somewhere in a long greedy run (one near-tie flips the rest), but a quantization that went wrong
 * changes the first words.
 */
const GENERATION_AGREES_TOKENS = 8;

/** What the page sends back of each task's output (page/check.js keeps these fields; typed arrays as base64). */
interface Embedding {
  embeddings: B64Tensor;
  dims: number[];
  tokens: number[][];
}
interface Labels {
  labels: { label: string; score: number }[];
}
interface Transcript {
  text: string;
  tokens: number[];
}

const quote = (text: string, max = 60) => JSON.stringify(text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** How an embedding is judged and summed up, text or image: its cosine with the fp32 run's, and its norm. */
function embeddingJudge(): Pick<CheckModel<Omit<Embedding, 'tokens'>>, 'compare' | 'brief'> {
  const vector = (o: Omit<Embedding, 'tokens'>) => fromB64(o.embeddings).values;
  return {
    compare(reference, got): Agreement {
      const cos = cosine(vector(reference), vector(got));
      return { agrees: cos >= COSINE_AGREES, cosine: cos, summary: `cos ${cos.toFixed(5)}` };
    },
    brief(got): OutputBrief {
      const norm = Math.hypot(...vector(got));
      return { summary: `[${got.dims.join(', ')}] embedding, norm ${norm.toFixed(3)}`, dims: got.dims, norm };
    },
  };
}

function featureExtraction(spec: IdSpec, input: string | undefined): CheckModel<Embedding> {
  const text = input ?? DEFAULT_TEXT;
  return {
    label: `${spec.id} (${spec.task}, ${spec.repo}) on ${quote(text)}`,
    routes: {},
    ref: () => spec.id,
    plan: () => ({ kind: 'task', input: { text }, keep: ['embeddings', 'dims', 'tokens'] }),
    ...embeddingJudge(),
  };
}

/** The image to classify: the file given, or ImageMagick's built-in rose (a 70×46 photo) rendered as PNG. */
function imageInput(input: string | undefined): { name: string; bytes: Uint8Array; type: string } {
  if (input)
    return { name: basename(input), bytes: readFileSync(input), type: IMAGE_TYPES[extname(input).toLowerCase()]! };
  return {
    name: "ImageMagick's built-in rose photo (convert rose:, 70×46 PNG)",
    bytes: execFileSync('convert', ['rose:', 'png:-']),
    type: 'image/png',
  };
}

/** The candidates zero-shot classification scores the image against when --labels names none (the default image is
 * a rose). */
const DEFAULT_LABELS = ['a rose', 'a cat', 'a dog', 'a car'];

/** image-classification, and zero-shot-image-classification with its candidate labels: judged by the top label. */
function imageClassification(spec: IdSpec, input: string | undefined): CheckModel<Labels> {
  const image = imageInput(input);
  const top = (o: Labels) => o.labels[0]!;
  const zeroShot = spec.task === 'zero-shot-image-classification';
  const labels = spec.labels ?? DEFAULT_LABELS;
  return {
    label: `${spec.id} (${spec.task}, ${spec.repo}) on ${image.name}${zeroShot ? `, labels ${labels.map((l) => quote(l)).join(', ')}` : ''}`,
    routes: {},
    ref: () => spec.id,
    plan: () => ({
      kind: 'task',
      input: { image: { b64: Buffer.from(image.bytes).toString('base64'), type: image.type } },
      keep: ['labels'],
      ...(zeroShot ? { options: { candidateLabels: labels } } : {}),
    }),
    compare(reference, got): Agreement {
      const a = top(reference);
      const b = top(got);
      const agrees = a.label === b.label;
      return {
        agrees,
        label: b.label,
        summary: agrees
          ? `same label, score ${b.score >= a.score ? '+' : '−'}${Math.abs(b.score - a.score).toFixed(4)}`
          : `label ${quote(b.label)} ≠ ${quote(a.label)}`,
      };
    },
    brief(got): OutputBrief {
      const { label, score } = top(got);
      return { summary: `${quote(label, 32)} ${score.toFixed(3)}`, label, score };
    },
  };
}

/** image-feature-extraction: the image's embedding, judged by its cosine with the fp32 run's. */
function imageEmbedding(spec: IdSpec, input: string | undefined): CheckModel<Omit<Embedding, 'tokens'>> {
  const image = imageInput(input);
  return {
    label: `${spec.id} (${spec.task}, ${spec.repo}) on ${image.name}`,
    routes: {},
    ref: () => spec.id,
    plan: () => ({
      kind: 'task',
      input: { image: { b64: Buffer.from(image.bytes).toString('base64'), type: image.type } },
      keep: ['embeddings', 'dims'],
    }),
    ...embeddingJudge(),
  };
}

/**
 * Speech for a speech model (Whisper, wav2vec2) at the rate it was recorded (the engine resamples to 16 kHz): a
 * .wav, or espeak-ng saying the text.
 */
function speechInput(input: string | undefined): { name: string; samples: Float32Array; sampleRate: number } {
  if (input?.toLowerCase().endsWith('.wav'))
    return { name: basename(input), ...readWav(new Uint8Array(readFileSync(input))) };
  const text = input ?? DEFAULT_SPEECH;
  return {
    name: `espeak-ng saying ${quote(text)}`,
    ...readWav(new Uint8Array(execFileSync('espeak-ng', ['--stdout', '-s', '150', text]))),
  };
}

function speechRecognition(spec: IdSpec, input: string | undefined): CheckModel<Transcript> {
  const speech = speechInput(input);
  const seconds = speech.samples.length / speech.sampleRate;
  const audio: TaskInput = {
    audio: {
      b64: Buffer.from(speech.samples.buffer, speech.samples.byteOffset, speech.samples.byteLength).toString('base64'),
      sampleRate: speech.sampleRate,
    },
  };
  return {
    label: `${spec.id} (${spec.task}, ${spec.repo}) on ${speech.name}, ${seconds.toFixed(1)} s at ${speech.sampleRate} Hz`,
    routes: {},
    ref: () => spec.id,
    plan: () => ({ kind: 'task', input: audio, keep: ['text', 'tokens'] }),
    compare(reference, got): Agreement {
      const agrees = reference.text === got.text;
      return {
        agrees,
        text: got.text,
        summary: agrees ? 'same text' : `text ${quote(got.text, 40)} ≠ ${quote(reference.text, 40)}`,
      };
    },
    brief: (got): OutputBrief => ({ summary: quote(got.text.trim(), 48), text: got.text }),
  };
}

/**
 * text2text-generation (t5-small): greedy, so the quantized run and the fp32 run are comparable token by token; judged
 * by the text, as transcripts are.
 */
function text2text(spec: IdSpec, input: string | undefined): CheckModel<Transcript> {
  const text = input ?? DEFAULT_TEXT2TEXT;
  return {
    label: `${spec.id} (${spec.task}, ${spec.repo}) on ${quote(text)}`,
    routes: {},
    ref: () => spec.id,
    plan: () => ({
      kind: 'task',
      input: { text },
      keep: ['text', 'tokens'],
      options: { maxNewTokens: TEXT2TEXT_MAX_NEW_TOKENS },
    }),
    compare(reference, got): Agreement {
      const agrees = reference.text === got.text;
      return {
        agrees,
        text: got.text,
        summary: agrees ? 'same text' : `text ${quote(got.text, 40)} ≠ ${quote(reference.text, 40)}`,
      };
    },
    brief: (got): OutputBrief => ({ summary: quote(got.text.trim(), 48), text: got.text }),
  };
}

/**
 * text-generation (the registry's chat models): the prompt as one user message through the model's chat template,
 * greedy, at most GENERATION_MAX_NEW_TOKENS; judged by the first GENERATION_AGREES_TOKENS tokens (all of them when
 * fp32 stops sooner), the length of the common start reported.
 */
function textGeneration(spec: IdSpec, input: string | undefined): CheckModel<Transcript> {
  const prompt = input ?? DEFAULT_PROMPT;
  return {
    label: `${spec.id} (${spec.task}, ${spec.repo}) on ${quote(prompt)}`,
    routes: {},
    ref: () => spec.id,
    plan: () => ({
      kind: 'task',
      input: { messages: [{ role: 'user', content: prompt }] },
      keep: ['text', 'tokens'],
      options: { maxNewTokens: GENERATION_MAX_NEW_TOKENS },
    }),
    compare(reference, got): Agreement {
      let same = 0;
      while (same < reference.tokens.length && reference.tokens[same] === got.tokens[same]) same++;
      const needed = Math.min(GENERATION_AGREES_TOKENS, reference.tokens.length);
      const agrees = same >= needed && (needed > 0 || got.tokens.length === 0);
      return {
        agrees,
        text: got.text,
        summary:
          same === reference.tokens.length && same === got.tokens.length
            ? `same ${same} tokens`
            : `first ${same} of ${reference.tokens.length} tokens as fp32's${agrees ? '' : ` (${needed} needed)`}`,
      };
    },
    brief: (got): OutputBrief => ({ summary: quote(got.text.trim(), 48), text: got.text }),
  };
}

export function taskModel(spec: IdSpec, input: string | undefined): CheckModel {
  switch (spec.task) {
    case 'feature-extraction':
      return featureExtraction(spec, input) as CheckModel;
    case 'image-classification':
    case 'zero-shot-image-classification':
      return imageClassification(spec, input) as CheckModel;
    case 'image-feature-extraction':
      return imageEmbedding(spec, input) as CheckModel;
    case 'automatic-speech-recognition':
      return speechRecognition(spec, input) as CheckModel;
    case 'text2text-generation':
      return text2text(spec, input) as CheckModel;
    case 'text-generation':
      return textGeneration(spec, input) as CheckModel;
  }
}
