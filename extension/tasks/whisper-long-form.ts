/**
 * Whisper beyond one window (issue 18): audio longer than the model's window (30 s) is cut into overlapping windows,
 * each transcribed on its own, and the windows' tokens are joined so the words heard in an overlap are said once.
 *
 * The windows are laid out as transformers.js' `chunk_length_s` / `stride_length_s` lay them (window 30 s, stride
 * window / 6 = 5 s on each side): a window starts every window − 2 × stride samples, so consecutive windows share
 * 2 × stride of audio, and the last one ends at the audio's end (shorter, padded with silence by the log-mel).
 *
 * The join is webq's own: at each seam it looks for the longest run of tokens that ends the text so far and starts
 * the new window alike (the overlap heard twice), keeps the earlier copy and drops everything after it on the left
 * and before it on the right. A run shorter than MIN_SEAM_RUN tokens ("A", ".") is chance, not the same words, and
 * the windows are then simply put one after the other.
 */

/** One window of the audio, in samples at the model's rate. */
export interface AudioWindow {
  start: number;
  length: number;
}

/** The stretch of audio a run of tokens was said in, in seconds from the audio's start. */
export interface Segment {
  start: number;
  end: number;
}

/** A generated text token (no timestamps, no end of text) and the segment it belongs to. */
export interface TimedToken {
  id: number;
  segment: Segment;
}

/** Fewer common tokens than this at a seam are not taken as the overlap heard twice. */
export const MIN_SEAM_RUN = 2;

/**
 * The windows of `samples` samples: `window` long, one every `window − 2 × stride`. One window when the audio fits
 * in it. `stride` must leave a positive step.
 */
export function audioWindows(samples: number, window: number, stride: number): AudioWindow[] {
  const step = window - 2 * stride;
  if (!Number.isInteger(window) || !Number.isInteger(stride) || stride < 0 || step < 1)
    throw new RangeError(`a window of ${window} samples with a stride of ${stride} leaves no step`);
  const windows: AudioWindow[] = [];
  for (let start = 0; ; start += step) {
    windows.push({ start, length: Math.min(window, samples - start) });
    if (start + window >= samples) return windows;
  }
}

/**
 * Where `right` continues `left`: the longest run `left[i, i + n) = right[j, j + n)` (n ≥ MIN_SEAM_RUN) among those
 * that reach into the tail of `left` that `right` could have heard again (its last `right.length` tokens). Ties go to
 * the run latest in `left`, then earliest in `right`. O(|left tail| × |right|) with one row of the usual table.
 */
export function seamRun(
  left: readonly number[],
  right: readonly number[],
): { left: number; right: number; length: number } {
  const from = Math.max(0, left.length - right.length);
  let best = { left: left.length, right: 0, length: 0 };
  // runs[j + 1]: the length of the common run ending at left[i − 1] and right[j] (the previous row of the table).
  let runs = new Uint16Array(right.length + 1);
  for (let i = from; i < left.length; i++) {
    const row = new Uint16Array(right.length + 1);
    for (let j = 0; j < right.length; j++) {
      if (left[i] !== right[j]) continue;
      const n = runs[j]! + 1;
      row[j + 1] = n;
      const leftStart = i + 1 - n;
      // Rows go left to right, so an equal run found later is later in `left`; within a row the first is earliest.
      if (n > best.length || (n === best.length && leftStart > best.left))
        best = { left: leftStart, right: j + 1 - n, length: n };
    }
    runs = row;
  }
  return best.length >= MIN_SEAM_RUN ? best : { left: left.length, right: 0, length: 0 };
}

/**
 * The windows' tokens joined (see the header). Where a seam run is found, the segment it ends in on the left and the
 * one it ends in on the right are the same words, so they become one segment spanning both; the tokens keep pointing
 * at their segment objects, so callers group them by identity.
 */
export function joinWindows(windows: readonly (readonly TimedToken[])[]): TimedToken[] {
  // Copies: joining re-points tokens at merged segments, and the callers' windows stay as they were.
  const copy = (tokens: readonly TimedToken[]) => tokens.map((t) => ({ id: t.id, segment: t.segment }));
  const joined: TimedToken[] = copy(windows[0] ?? []);
  for (const next of windows.slice(1).map(copy)) {
    const run = seamRun(
      joined.map((t) => t.id),
      next.map((t) => t.id),
    );
    if (run.length === 0) {
      joined.push(...next);
      continue;
    }
    const leftSegment = joined[run.left + run.length - 1]!.segment;
    const rightSegment = next[run.right + run.length - 1]!.segment;
    const both: Segment = {
      start: Math.min(leftSegment.start, rightSegment.start),
      end: Math.max(leftSegment.end, rightSegment.end),
    };
    joined.length = run.left + run.length;
    joined.push(...next.slice(run.right + run.length));
    for (const token of joined)
      if (token.segment === leftSegment || token.segment === rightSegment) token.segment = both;
  }
  return joined;
}

/** Consecutive tokens of one segment, in order: what becomes one `chunks` entry. */
export function groupBySegment(tokens: readonly TimedToken[]): { segment: Segment; ids: number[] }[] {
  const groups: { segment: Segment; ids: number[] }[] = [];
  for (const token of tokens) {
    const last = groups.at(-1);
    if (last && last.segment === token.segment) last.ids.push(token.id);
    else groups.push({ segment: token.segment, ids: [token.id] });
  }
  return groups;
}
