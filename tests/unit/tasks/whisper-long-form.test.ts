/**
 * Whisper beyond one window, the pure parts: the window layout, the seam join on hand-built token runs, and the
 * timestamp rules and segments on hand-built logits and ids (the whole path on a generated model is in
 * speech-recognition.test.ts).
 */
import { describe, expect, test } from 'vitest';
import {
  audioWindows,
  groupBySegment,
  joinWindows,
  seamRun,
  type Segment,
  type TimedToken,
} from '../../../extension/tasks/whisper-long-form';
import { segmentsOf, timestampRules, type TimestampConfig } from '../../../extension/tasks/whisper-timestamps';

const plain = (ids: number[], segment: Segment = { start: 0, end: 0 }): TimedToken[] =>
  ids.map((id) => ({ id, segment }));
const ids = (tokens: TimedToken[]) => tokens.map((t) => t.id);

describe('windows', () => {
  test('30 s windows every 20 s (5 s stride each side), the last one to the end of the audio', () => {
    expect(audioWindows(480000, 480000, 80000)).toEqual([{ start: 0, length: 480000 }]);
    expect(audioWindows(1000, 480000, 80000)).toEqual([{ start: 0, length: 1000 }]);
    expect(audioWindows(480001, 480000, 80000)).toEqual([
      { start: 0, length: 480000 },
      { start: 320000, length: 160001 },
    ]);
    expect(audioWindows(16000 * 45, 480000, 80000)).toEqual([
      { start: 0, length: 480000 },
      { start: 320000, length: 400000 },
    ]);
    const long = audioWindows(16000 * 300, 480000, 80000);
    expect(long.length).toBe(15);
    expect(long.at(-1)).toEqual({ start: 16000 * 280, length: 16000 * 20 });
  });

  test('a stride that leaves no step is refused', () => {
    expect(() => audioWindows(1000, 100, 50)).toThrow(RangeError);
    expect(() => audioWindows(1000, 100, -1)).toThrow(RangeError);
  });
});

describe('the seam join', () => {
  test('the overlap heard twice is said once', () => {
    expect(seamRun([1, 2, 3, 4, 5, 6], [4, 5, 6, 7, 8])).toEqual({ left: 3, right: 0, length: 3 });
    expect(ids(joinWindows([plain([1, 2, 3, 4, 5, 6]), plain([4, 5, 6, 7, 8])]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test('words misheard at the window edges are dropped on both sides of the common run', () => {
    // The left window's last word (9) and the right window's first (0) were cut by the window edges.
    expect(seamRun([1, 2, 3, 4, 5, 9], [0, 3, 4, 5, 6])).toEqual({ left: 2, right: 1, length: 3 });
    expect(ids(joinWindows([plain([1, 2, 3, 4, 5, 9]), plain([0, 3, 4, 5, 6])]))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('one common token is chance: the windows follow each other', () => {
    expect(seamRun([1, 2, 3], [3, 4])).toEqual({ left: 3, right: 0, length: 0 });
    expect(ids(joinWindows([plain([1, 2, 3]), plain([3, 4]), plain([])]))).toEqual([1, 2, 3, 3, 4]);
  });

  test('the longest run wins; of equal ones the latest on the left', () => {
    expect(seamRun([5, 6, 7, 1, 2], [5, 6, 7, 1, 2, 3])).toEqual({ left: 0, right: 0, length: 5 });
    expect(seamRun([1, 2, 7, 1, 2], [1, 2, 8])).toEqual({ left: 3, right: 0, length: 2 });
    expect(ids(joinWindows([plain([1, 2, 7, 1, 2]), plain([1, 2, 8])]))).toEqual([1, 2, 7, 1, 2, 8]);
  });

  test("only the left text's tail as long as the new window can match", () => {
    // [1, 2] early in the text is not the seam: the new window (3 tokens) can only repeat the last 3.
    expect(seamRun([1, 2, 9, 9, 9, 4, 5], [1, 2, 6])).toEqual({ left: 7, right: 0, length: 0 });
  });

  test('three windows; the empty ones change nothing', () => {
    expect(ids(joinWindows([plain([1, 2, 3]), plain([2, 3, 4, 5]), plain([4, 5, 6])]))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(ids(joinWindows([plain([]), plain([1, 2])]))).toEqual([1, 2]);
    expect(joinWindows([])).toEqual([]);
  });

  test('the segments a run ends in on both sides become one, spanning both; the others keep their times', () => {
    const a = { start: 0, end: 10 },
      b = { start: 10, end: 30 },
      c = { start: 20, end: 41 },
      d = { start: 41, end: 50 };
    const left = [...plain([1, 2], a), ...plain([3, 4, 5], b)];
    const right = [...plain([4, 5, 6], c), ...plain([7], d)];
    const joined = joinWindows([left, right]);
    expect(groupBySegment(joined)).toEqual([
      { segment: a, ids: [1, 2] },
      { segment: { start: 10, end: 41 }, ids: [3, 4, 5, 6] },
      { segment: d, ids: [7] },
    ]);
    // The inputs are left as they were.
    expect(left[2]!.segment).toBe(b);
    expect(right[0]!.segment).toBe(c);
  });
});

describe('timestamp rules', () => {
  // Text tokens 0–9, <|endoftext|> 10, <|notimestamps|> 11, timestamps 12–21 (<|0.00|> … <|0.18|>).
  const config: TimestampConfig = { timestampBegin: 12, noTimestampsId: 11, eosIds: [10] };
  const allowed = (logits: Float32Array) => [...logits.keys()].filter((i) => logits[i]! > -Infinity);
  // By default text is much likelier than any timestamp, so only the pairing and order rules act.
  const apply = (generated: number[], values: (i: number) => number = (i) => (i < 12 ? 5 : 0), c = config) => {
    const logits = Float32Array.from({ length: 22 }, (_, i) => values(i));
    timestampRules(logits, generated, c);
    return allowed(logits);
  };

  test('the first token is a timestamp, at most max_initial_timestamp_index', () => {
    expect(apply([])).toEqual([12, 13, 14, 15, 16, 17, 18, 19, 20, 21]);
    expect(apply([], undefined, { ...config, maxInitialIndex: 2 })).toEqual([12, 13, 14]);
  });

  test('after a lone timestamp that opens a segment: text or the end, never a timestamp', () => {
    expect(apply([12])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(apply([12, 3, 4, 15, 15])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  test('after text then a timestamp: another timestamp (not earlier) or the end', () => {
    expect(apply([12, 3, 4, 15])).toEqual([10, 15, 16, 17, 18, 19, 20, 21]);
  });

  test('after text: text, or a timestamp later than the last one', () => {
    expect(apply([12, 3, 15, 15, 4])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16, 17, 18, 19, 20, 21]);
  });

  test('timestamps likelier together than the likeliest text token: a timestamp it is', () => {
    // Each timestamp is less likely than text token 0, but the nine allowed ones together are likelier.
    const values = (i: number) => (i === 0 ? 2 : i >= 13 ? 0 : -5);
    expect(apply([12, 3], values)).toEqual([13, 14, 15, 16, 17, 18, 19, 20, 21]);
    expect(apply([12, 3], (i) => (i === 0 ? 4 : i >= 13 ? 0 : -5))).toContain(0);
  });

  test('segments: pairs close and open segments, offset by the window start; an open one ends with the window', () => {
    // <|0.00|> 5 6 <|0.20|><|0.20|> 7 <|0.36|>, window from 20 s.
    const tokens = segmentsOf([12, 5, 6, 22, 22, 7, 30], 12, 20, 50);
    expect(groupBySegment(tokens)).toEqual([
      { segment: { start: 20, end: 20.2 }, ids: [5, 6] },
      { segment: { start: 20.2, end: 20.36 }, ids: [7] },
    ]);
    expect(groupBySegment(segmentsOf([12, 5, 6], 12, 40, 55.5))).toEqual([
      { segment: { start: 40, end: 55.5 }, ids: [5, 6] },
    ]);
    // Text with no timestamp before it starts at the window's start; a time past the audio is the audio's end.
    expect(groupBySegment(segmentsOf([5, 12 + 1500], 12, 0, 3))).toEqual([{ segment: { start: 0, end: 3 }, ids: [5] }]);
    expect(segmentsOf([12, 13], 12, 0, 30)).toEqual([]);
  });
});
