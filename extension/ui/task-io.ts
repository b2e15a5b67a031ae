/**
 * Task models in the popup (SPEC §5): the run input a form's text or audio becomes, and what the popup shows of a
 * task's output (embedding summaries, and how two runs of one input agree). Pure functions, unit-tested in Node.
 */
import type { Task } from '../shared/types';

/** The page API's input for text: one string per non-blank line; one line is a string, several are a batch. */
export function textInput(text: string): string | string[] {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (lines.length === 0) throw new RangeError('type some text: one input per line');
  return lines.length === 1 ? lines[0]! : lines;
}

/** Channels of decoded audio averaged into one (Whisper takes mono). */
export function mixToMono(channels: readonly Float32Array[]): Float32Array {
  if (channels.length === 0) throw new RangeError('the audio has no channels');
  if (channels.length === 1) return Float32Array.from(channels[0]!);
  const n = channels[0]!.length;
  const out = new Float32Array(n);
  for (const c of channels) for (let i = 0; i < n; i++) out[i]! += c[i]! / channels.length;
  return out;
}

// ---- outputs ----

export interface EmbeddingOutput {
  embeddings: ArrayLike<number>;
  dims: number[];
  lastHiddenState?: { dims: number[] };
  /** Text embeddings only (image embeddings have no tokens). */
  tokens?: number[][];
}
export interface Label {
  label: string;
  score: number;
}
export interface LabelsOutput {
  labels: Label[];
}
export interface TextOutput {
  text: string;
  tokens: number[];
  /** Whisper with `returnTimestamps`: the segments, in seconds from the audio's start. */
  chunks?: { text: string; timestamp: [number, number] }[];
}

export interface EmbeddingRow {
  /** null for an image's embedding. */
  tokens: number | null;
  norm: number;
  first: number[];
}

/** One row per input: its token count, the L2 norm of its embedding, and the embedding's first values. */
export function embeddingRows(out: EmbeddingOutput, firstCount = 6): EmbeddingRow[] {
  const [batch = 0, hidden = 0] = out.dims;
  return Array.from({ length: batch }, (_, i) => {
    const row = Array.from({ length: hidden }, (_, j) => out.embeddings[i * hidden + j]!);
    return {
      tokens: out.tokens ? (out.tokens[i]?.length ?? 0) : null,
      norm: Math.hypot(...row),
      first: row.slice(0, firstCount),
    };
  });
}

/** A classifier's output as one list of labels per image (a single image gives `{ labels }`, a batch an array). */
export const labelSets = (out: LabelsOutput | LabelsOutput[]): Label[][] =>
  Array.isArray(out) ? out.map((o) => o.labels) : [out.labels];

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 && nb === 0 ? 1 : na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
};

/** How two runs of one input agree, per input (a text line, an image) or for the one transcript. */
export type TaskAgreement =
  | { kind: 'embeddings'; rows: { cosine: number; maxAbsDiff: number }[] }
  | { kind: 'labels'; rows: { a: Label | undefined; b: Label | undefined; same: boolean; deltaScore: number | null }[] }
  | { kind: 'text'; a: string; b: string; same: boolean };

/**
 * Embeddings: the cosine of each input's two embeddings (and the largest difference). Labels: whether each image's
 * top label is the same, and |Δscore| of the first side's top label (null when the second side did not list it).
 * Text: whether the transcripts are the same, spaces at the ends aside.
 */
export function taskAgreement(task: Task, a: unknown, b: unknown): TaskAgreement {
  switch (task) {
    case 'feature-extraction':
    case 'image-feature-extraction': {
      const x = a as EmbeddingOutput;
      const y = b as EmbeddingOutput;
      const [batch = 0, hidden = 0] = x.dims;
      if (y.dims[0] !== batch || y.dims[1] !== hidden)
        throw new RangeError(`embeddings differ in shape (${x.dims.join('×')} vs ${y.dims.join('×')})`);
      const rows = Array.from({ length: batch }, (_, i) => {
        const ra = Array.from({ length: hidden }, (_, j) => x.embeddings[i * hidden + j]!);
        const rb = Array.from({ length: hidden }, (_, j) => y.embeddings[i * hidden + j]!);
        return { cosine: cosine(ra, rb), maxAbsDiff: Math.max(0, ...ra.map((v, j) => Math.abs(v - rb[j]!))) };
      });
      return { kind: 'embeddings', rows };
    }
    case 'image-classification':
    case 'zero-shot-image-classification': {
      const x = labelSets(a as LabelsOutput | LabelsOutput[]);
      const y = labelSets(b as LabelsOutput | LabelsOutput[]);
      if (x.length !== y.length) throw new RangeError(`results differ in count (${x.length} vs ${y.length} images)`);
      const rows = x.map((la, i) => {
        const top = la[0];
        const other = y[i]![0];
        const match = top && y[i]!.find((l) => l.label === top.label);
        return {
          a: top,
          b: other,
          same: top !== undefined && other?.label === top.label,
          deltaScore: match ? Math.abs(match.score - top.score) : null,
        };
      });
      return { kind: 'labels', rows };
    }
    case 'automatic-speech-recognition':
    case 'text-generation':
    case 'text2text-generation': {
      const x = (a as TextOutput).text;
      const y = (b as TextOutput).text;
      return { kind: 'text', a: x, b: y, same: x.trim() === y.trim() };
    }
  }
}
