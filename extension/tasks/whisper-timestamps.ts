/**
 * Whisper's segment timestamps (`returnTimestamps`, issue 18). Without <|notimestamps|> in its prompt Whisper writes
 * `<|t0|> words <|t1|>` segments, the timestamp tokens being the ids from no_timestamps_token_id + 1 on, one per
 * 0.02 s of the window (<|0.00|> … <|30.00|>). Greedy decoding alone can pair them wrongly, so Whisper's generation
 * constrains each step's logits (the rules of openai/whisper's ApplyTimestampRules, which transformers and
 * transformers.js follow); `timestampRules` applies them, `segmentsOf` reads the segments back.
 */
import type { Segment, TimedToken } from './whisper-long-form';

/** Seconds per timestamp token. */
export const SECONDS_PER_TIMESTAMP = 0.02;

export interface TimestampConfig {
  /** The first timestamp token, <|0.00|>: no_timestamps_token_id + 1. */
  timestampBegin: number;
  noTimestampsId: number;
  eosIds: readonly number[];
  /** generation_config max_initial_timestamp_index: the latest timestamp a window may start with, if set. */
  maxInitialIndex?: number;
}

/**
 * Constrains the logits of the next token in place, given the tokens generated so far in this window:
 *  - <|notimestamps|> never;
 *  - the first token is a timestamp (at most maxInitialIndex);
 *  - timestamps come in pairs: after a lone timestamp that closes text, another timestamp or the end; after a pair,
 *    text or the end — never a third;
 *  - they never go back: a new segment starts at or after the last one's end (the pair's two may be equal);
 *  - when the timestamps together are likelier than the likeliest text token, a timestamp it is.
 */
export function timestampRules(logits: Float32Array, generated: readonly number[], config: TimestampConfig): void {
  const begin = config.timestampBegin;
  const ban = (from: number, to: number) => logits.fill(-Infinity, from, Math.min(to, logits.length));
  logits[config.noTimestampsId] = -Infinity;
  const isTimestamp = (id: number | undefined) => id !== undefined && id >= begin;
  const last = generated.at(-1);
  const lastWasTimestamp = isTimestamp(last);
  const penultimateWasTimestamp = generated.length < 2 || isTimestamp(generated.at(-2));
  if (lastWasTimestamp) {
    if (penultimateWasTimestamp) ban(begin, logits.length);
    else banText(logits, begin, config.eosIds);
  }
  const lastTimestamp = generated.findLast((id) => id >= begin);
  if (lastTimestamp !== undefined) {
    // A segment's end may equal its start only as the pair that closes one segment and opens the next.
    ban(begin, lastWasTimestamp && !penultimateWasTimestamp ? lastTimestamp : lastTimestamp + 1);
  }
  if (generated.length === 0) {
    ban(0, begin);
    if (config.maxInitialIndex !== undefined) ban(begin + config.maxInitialIndex + 1, logits.length);
  }
  // log-softmax shifts every logit alike, so the comparison holds on the logits themselves.
  let textMax = -Infinity;
  for (let i = 0; i < begin && i < logits.length; i++) if (logits[i]! > textMax) textMax = logits[i]!;
  if (logSumExp(logits, begin) > textMax) ban(0, begin);
}

/** Bans every token below the timestamps except the end of text. */
function banText(logits: Float32Array, begin: number, eosIds: readonly number[]): void {
  for (let i = 0; i < begin && i < logits.length; i++) if (!eosIds.includes(i)) logits[i] = -Infinity;
}

function logSumExp(values: Float32Array, from: number): number {
  let max = -Infinity;
  for (let i = from; i < values.length; i++) if (values[i]! > max) max = values[i]!;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = from; i < values.length; i++) sum += Math.exp(values[i]! - max);
  return max + Math.log(sum);
}

/**
 * A window's generated ids (timestamps included) as text tokens with their segments, in seconds from the audio's
 * start (`offset`, the window's start). Text before any timestamp starts at the window's start; a segment still open
 * when the window ends (its end timestamp never came) ends where the window's audio ends (`windowEnd`).
 */
export function segmentsOf(
  ids: readonly number[],
  timestampBegin: number,
  offset: number,
  windowEnd: number,
): TimedToken[] {
  const tokens: TimedToken[] = [];
  // To the centisecond, as the tokens say it (0.02 × 3 is 0.06000000000000001 in floats).
  const seconds = (id: number) => Math.round((offset + (id - timestampBegin) * SECONDS_PER_TIMESTAMP) * 100) / 100;
  let start = offset;
  let open: TimedToken[] = [];
  const close = (end: number) => {
    if (open.length === 0) return;
    const segment: Segment = { start, end: Math.max(start, end) };
    for (const token of open) token.segment = segment;
    tokens.push(...open);
    open = [];
  };
  for (const id of ids) {
    if (id < timestampBegin) {
      open.push({ id, segment: { start, end: start } });
      continue;
    }
    const time = Math.min(seconds(id), windowEnd);
    if (open.length > 0) close(time);
    else start = time;
  }
  close(windowEnd);
  return tokens;
}
