/**
 * The next token from a step's logits (SPEC §8 generation options): greedy when `temperature` is 0 or absent, else
 * seeded sampling after the usual logits processors in the order Hugging Face applies them — repetition penalty,
 * temperature, top-k, top-p. A seed makes the choice reproducible anywhere (mulberry32, shared/random.ts); without
 * one the generator is seeded from the platform's random source. No full sort of a 150k vocabulary per token: top-k
 * keeps a heap of k, top-p sorts only the tokens near the maximum unless they do not reach the nucleus.
 */
import { dataError } from '../../shared/errors';
import { mulberry32 } from '../../shared/random';

export interface SamplingOptions {
  /** 0 or absent = greedy (argmax). */
  temperature?: number;
  topK?: number;
  topP?: number;
  /** > 1 makes tokens already in the sequence (prompt and generated) less likely; 1 = off. */
  repetitionPenalty?: number;
  /** Any integer 0 … 2³² − 1: same seed, same tokens. */
  seed?: number;
}

export const MAX_TEMPERATURE = 100;
export const MAX_TOP_K = 1_000_000;
export const MAX_REPETITION_PENALTY = 100;

const describe = (v: unknown) =>
  typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : typeof v === 'number' ? String(v) : typeof v;

/** Validates the sampling options of a request; throws DataError naming the option. Absent stays absent. */
export function checkSamplingOptions(raw: Readonly<Record<string, unknown>>): SamplingOptions {
  const out: SamplingOptions = {};
  const num = (name: string, ok: (v: number) => boolean, what: string): number | undefined => {
    const v = raw[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
      throw dataError(`option ${name} must be ${what}, got ${describe(v)}`);
    return v;
  };
  const temperature = num(
    'temperature',
    (v) => v >= 0 && v <= MAX_TEMPERATURE,
    `a number from 0 (greedy) to ${MAX_TEMPERATURE}`,
  );
  const topK = num('topK', (v) => Number.isInteger(v) && v >= 1 && v <= MAX_TOP_K, `an integer from 1 to ${MAX_TOP_K}`);
  const topP = num('topP', (v) => v > 0 && v <= 1, 'a number greater than 0 and at most 1');
  const repetitionPenalty = num(
    'repetitionPenalty',
    (v) => v > 0 && v <= MAX_REPETITION_PENALTY,
    `a number greater than 0 and at most ${MAX_REPETITION_PENALTY} (1 = off)`,
  );
  const seed = num('seed', (v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff, 'an integer from 0 to 4294967295');
  if (temperature !== undefined) out.temperature = temperature;
  if (topK !== undefined) out.topK = topK;
  if (topP !== undefined) out.topP = topP;
  if (repetitionPenalty !== undefined) out.repetitionPenalty = repetitionPenalty;
  if (seed !== undefined) out.seed = seed;
  return out;
}

function randomSeed(): number {
  const c = (globalThis as { crypto?: { getRandomValues?(a: Uint32Array): Uint32Array } }).crypto;
  if (c?.getRandomValues) return c.getRandomValues(new Uint32Array(1))[0]!;
  return Math.floor(Math.random() * 0x100000000);
}

/** Chooses tokens for one generation; holds the seeded generator, so one sampler serves one sequence. */
export class Sampler {
  private readonly random: () => number;
  readonly greedy: boolean;
  /**
   * The pick is the argmax of the logits and nothing else (greedy, no repetition penalty): a graph that reduces the
   * logits itself (webq's next-token head) can give the token instead.
   */
  readonly argmaxOnly: boolean;

  constructor(private readonly options: SamplingOptions = {}) {
    this.greedy = !options.temperature;
    const penalty = options.repetitionPenalty;
    this.argmaxOnly = this.greedy && (penalty === undefined || penalty === 1);
    this.random = mulberry32(options.seed ?? randomSeed());
  }

  /**
   * How many of the best logits decide the pick when that is fewer than `limit` ids and at most `max`: sampling with
   * top-k and no repetition penalty (the penalty could lift a token from below the k best). Then the k best ids and
   * logits (`pickAmong`) give the token `pick` would give from the whole row, for the same draw.
   */
  bestNeeded(limit: number, max: number): number | undefined {
    const { topK, repetitionPenalty } = this.options;
    if (this.greedy || topK === undefined || topK > max || topK >= limit) return undefined;
    return repetitionPenalty === undefined || repetitionPenalty === 1 ? topK : undefined;
  }

  /**
   * The next token from the `bestNeeded` best of the row, best first (ties to the smaller id): temperature, top-p and
   * the draw as `pick` does them over the row's top-k.
   */
  pickAmong(best: { ids: Uint32Array; logits: Float32Array }): number {
    const n = best.ids.length;
    if (n < 1) throw dataError('the model gave no logits to choose a token from');
    const t = this.options.temperature!;
    const values = t === 1 ? best.logits.slice() : best.logits.map((v) => v / t);
    let candidates = [...values.keys()];
    if (this.options.topP !== undefined && this.options.topP < 1)
      candidates = nucleus(values, this.options.topP, candidates);
    return best.ids[drawFrom(values, candidates, this.random())]!;
  }

  /**
   * The next token id. `logits` is the last position's row (not modified); `history` the ids the penalty applies
   * to; only ids below `limit` can be chosen (a model's logits may be wider than its tokenizer's vocabulary).
   */
  pick(logits: Float32Array, history: Iterable<number> = [], limit = logits.length): number {
    const n = Math.min(limit, logits.length);
    if (n < 1) throw dataError('the model gave no logits to choose a token from');
    const penalty = this.options.repetitionPenalty;
    const penalized = penalty !== undefined && penalty !== 1;
    // Greedy without a penalty reads the logits in place: no copy of a 128k–152k-wide row per token.
    if (this.argmaxOnly) return argmax(logits.subarray(0, n));
    const values = logits.slice(0, n);
    if (penalized) applyRepetitionPenalty(values, history, penalty!);
    if (this.greedy) return argmax(values);
    const t = this.options.temperature!;
    if (t !== 1) for (let i = 0; i < n; i++) values[i] = values[i]! / t;
    let candidates: number[] | undefined;
    if (this.options.topK !== undefined && this.options.topK < n) candidates = topIndices(values, this.options.topK);
    if (this.options.topP !== undefined && this.options.topP < 1)
      candidates = nucleus(values, this.options.topP, candidates);
    return candidates ? drawFrom(values, candidates, this.random()) : drawAll(values, this.random());
  }
}

/** Hugging Face's rule: a positive logit is divided by the penalty, a negative one multiplied, once per id. */
export function applyRepetitionPenalty(values: Float32Array, history: Iterable<number>, penalty: number): void {
  const seen = new Set<number>();
  for (const id of history) {
    if (seen.has(id) || id < 0 || id >= values.length) continue;
    seen.add(id);
    const v = values[id]!;
    values[id] = v > 0 ? v / penalty : v * penalty;
  }
}

/** The first index of the largest value; NaN never wins. */
export function argmax(values: Float32Array): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v > bestValue) {
      best = i;
      bestValue = v;
    }
  }
  return best;
}

/** Larger value first; among equal values, the lower id (so ties are broken the same everywhere). */
const before = (values: Float32Array, a: number, b: number) =>
  values[a]! > values[b]! || (values[a] === values[b] && a < b);

/** The `k` best indices, best first: a min-heap of k over one pass. */
export function topIndices(values: Float32Array, k: number): number[] {
  const heap: number[] = [];
  const worse = (a: number, b: number) => before(values, b, a);
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1,
        r = l + 1;
      let m = i;
      if (l < heap.length && worse(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && worse(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (let id = 0; id < values.length; id++) {
    if (Number.isNaN(values[id])) continue;
    if (heap.length < k) {
      heap.push(id);
      for (let i = heap.length - 1; i > 0;) {
        const p = (i - 1) >> 1;
        if (!worse(heap[i]!, heap[p]!)) break;
        [heap[i], heap[p]] = [heap[p]!, heap[i]!];
        i = p;
      }
    } else if (before(values, id, heap[0]!)) {
      heap[0] = id;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => (before(values, a, b) ? -1 : 1));
}

/**
 * The smallest best-first set whose probability reaches `p` (at least one token), among `within` (best first) or
 * the whole vocabulary. Over the whole vocabulary it first sorts only the tokens within 20 nats of the maximum:
 * every other token is less likely than each of those, so if they reach p the nucleus is exact.
 */
export function nucleus(values: Float32Array, p: number, within?: number[]): number[] {
  const pool = within ?? [...values.keys()].filter((i) => !Number.isNaN(values[i]));
  let max = -Infinity;
  for (const i of pool) if (values[i]! > max) max = values[i]!;
  let total = 0;
  for (const i of pool) total += Math.exp(values[i]! - max);
  const take = (sorted: number[]): number[] | undefined => {
    let sum = 0;
    for (let j = 0; j < sorted.length; j++) {
      sum += Math.exp(values[sorted[j]!]! - max) / total;
      if (sum >= p) return sorted.slice(0, j + 1);
    }
    return undefined;
  };
  const byValue = (a: number, b: number) => (before(values, a, b) ? -1 : 1);
  if (within) return take(within) ?? within;
  const near = take(pool.filter((i) => values[i]! >= max - 20).sort(byValue));
  return near ?? take(pool.sort(byValue)) ?? pool;
}

/** Samples from softmax over `candidates` with the uniform draw `u` in [0, 1). */
function drawFrom(values: Float32Array, candidates: number[], u: number): number {
  let max = -Infinity;
  for (const i of candidates) if (values[i]! > max) max = values[i]!;
  const weights = candidates.map((i) => Math.exp(values[i]! - max));
  let r = u * weights.reduce((a, b) => a + b, 0);
  for (let j = 0; j < candidates.length; j++) {
    r -= weights[j]!;
    if (r < 0) return candidates[j]!;
  }
  return candidates[candidates.length - 1]!;
}

/** Samples from softmax over every id. */
function drawAll(values: Float32Array, u: number): number {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  if (max === -Infinity || Number.isNaN(max)) return argmax(values);
  let total = 0;
  for (const v of values) if (!Number.isNaN(v)) total += Math.exp(v - max);
  let r = u * total;
  let last = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v) || v === -Infinity) continue;
    last = i;
    r -= Math.exp(v - max);
    if (r < 0) return i;
  }
  return last;
}
