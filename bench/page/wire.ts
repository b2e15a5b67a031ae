/**
 * What crosses between bench/run.ts (Node) and the benchmark page through Playwright: plain JSON, so typed
 * arrays travel as number arrays (int64 as decimal strings) and are rebuilt in the page, once per input set.
 */
export interface PlainTensor {
  type: 'float32' | 'int64';
  dims: number[];
  data: number[] | string[];
}
export type PlainFeeds = Record<string, PlainTensor>;

/** A page-side tensor in webq's wire form, which onnxruntime-web's Tensor constructor also accepts. */
export interface PageTensor {
  type: 'float32' | 'int64';
  dims: number[];
  data: Float32Array | BigInt64Array;
}

export function toPage(t: PlainTensor): PageTensor {
  return t.type === 'int64'
    ? { type: 'int64', dims: t.dims, data: BigInt64Array.from((t.data as string[]).map((x) => BigInt(x))) }
    : { type: 'float32', dims: t.dims, data: Float32Array.from(t.data as number[]) };
}

/** Silero-style streaming: `audio` cut into frames, the state output fed back as the next state input. */
export interface StreamSpec {
  audio: number[];
  frame: number;
  frames: number;
  /** input names: the audio frame, the state in, and constant extra feeds (the sample rate) */
  input: string;
  state: string;
  stateDims: number[];
  extra: PlainFeeds;
  /** output names: the per-frame score and the state out */
  score: string;
  stateOut: string;
}

/** Times of one measured series, page-side: wall = call to result; inference = the runtime's own session.run. */
export interface Series {
  wallMs: number[];
  inferenceMs: number[];
}

/** The quantization policy handed to the baseline so it runs the very bytes webq runs (prepareModel). */
export interface BaselinePolicy {
  bits: 2 | 4 | 8 | 16;
  scheme: 'symmetric' | 'asymmetric';
  groupSize: number;
}

/**
 * A task model's input, described in JSON and built in the page once per workload, as a site would hold it: text as
 * strings, an image as a canvas drawn there (a fill and a few rectangles, then handed to webq as the canvas
 * element), audio as a Float32Array with its sample rate.
 */
export type TaskInputSpec =
  | { kind: 'text'; text: string | string[] }
  | {
      kind: 'image';
      width: number;
      height: number;
      fill: string;
      rects: { x: number; y: number; w: number; h: number; color: string }[];
    }
  | { kind: 'audio'; samples: number[]; sampleRate: number };

/** What the page sends back of a task's output: what Node compares with the fp32 run's. */
export type TaskOutput =
  | { kind: 'embedding'; dims: number[]; data: number[] }
  | { kind: 'labels'; labels: { label: string; score: number }[] }
  | { kind: 'text'; text: string; tokens: number[] };

/** Side-by-side rows (driver.ts `sideBySide`): calls of one side in a row before the other's (fewer at the end). */
export const SIDE_BLOCK = 5;
