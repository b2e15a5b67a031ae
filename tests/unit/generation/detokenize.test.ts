/**
 * Incremental detokenizing: UTF-8 split over byte tokens (byte-fallback `<0xE2>` style and byte-level pieces),
 * emoji, a SentencePiece-style decoder that strips the first space, and stop strings across token boundaries.
 */
import { describe, expect, test } from 'vitest';
import { checkStopStrings, Detokenizer, StopFilter } from '../../../extension/tasks/generation/detokenize';
import { GENERATION_OPTIONS, checkGenerationOptions } from '../../../extension/tasks/generation/index';

/** A byte tokenizer: id = byte, decoded as UTF-8 with U+FFFD for incomplete sequences (as real decoders do). */
const bytes = (ids: number[]) => new TextDecoder().decode(Uint8Array.from(ids));
const utf8 = (text: string) => [...new TextEncoder().encode(text)];

/** A SentencePiece-like vocab of words with ▁ for a space; its decoder strips the first leading space. */
const WORDS = ['▁Hello', '▁world', ',', '▁again', '!'];
const sentencePiece = (ids: number[]) =>
  ids
    .map((i) => WORDS[i]!)
    .join('')
    .replaceAll('▁', ' ')
    .replace(/^ /, '');

async function stream(decode: (ids: number[]) => string, ids: number[], stops: string[] = []) {
  const d = new Detokenizer(decode, stops);
  const deltas: string[] = [];
  for (const id of ids) {
    deltas.push(await d.push(id));
    if (d.stopped) break;
  }
  deltas.push(await d.finish());
  return { deltas: deltas.filter(Boolean), text: d.text, stopped: d.stopped };
}

describe('detokenizer', () => {
  test('multi-byte characters split over tokens come out whole', async () => {
    const text = 'a€b 😀 漢字 é';
    const { deltas, text: out } = await stream(bytes, utf8(text));
    expect(out).toBe(text);
    expect(deltas.some((d) => d.includes('\uFFFD'))).toBe(false);
    expect(deltas).toContain('😀');
    expect(deltas).toContain('€');
  });

  test('a sequence the model never completes is emitted after at most a few tokens', async () => {
    const { text } = await stream(bytes, [0xe2, 0x82, 0x41, 0x42]);
    expect(text).toBe('\uFFFDAB');
    const { text: end } = await stream(bytes, [0x41, 0xf0, 0x9f]);
    expect(end).toBe('A\uFFFD');
  });

  test('a decoder that strips the first space keeps the spaces between words', async () => {
    const { deltas, text } = await stream(sentencePiece, [0, 1, 2, 3, 4]);
    expect(text).toBe('Hello world, again!');
    expect(deltas).toEqual(['Hello', ' world', ',', ' again', '!']);
  });

  test("the next window's left context is decoded as soon as it is fixed, before the next token comes", async () => {
    const calls: number[][] = [];
    const d = new Detokenizer((ids) => {
      calls.push([...ids]);
      return sentencePiece(ids);
    });
    expect(await d.push(0)).toBe('Hello');
    // [0] for the delta, then [0] again: the left context of the next window, asked for before push(1) (in the engine
    // that worker round trip overlaps the model's next step).
    expect(calls).toEqual([[0], [0]]);
    expect(await d.push(1)).toBe(' world');
    expect(calls).toEqual([[0], [0], [0, 1], [1]]);
    expect(await d.finish()).toBe('');
    expect(d.text).toBe('Hello world');
  });

  test('a failing decode of the left context fails the next push, not the process', async () => {
    let calls = 0;
    const d = new Detokenizer(async (ids) => {
      // The second call is the left context asked for ahead: it fails (and nothing awaits it until push(1)).
      if (++calls === 2) throw new Error('tokenizer gone');
      return sentencePiece(ids);
    });
    expect(await d.push(0)).toBe('Hello');
    await new Promise((r) => setTimeout(r, 10)); // an unhandled rejection would surface here
    await expect(d.push(1)).rejects.toThrow('tokenizer gone');
  });

  test('stop strings across token boundaries: the text stops before them, nothing of them is emitted', async () => {
    const { deltas, text, stopped } = await stream(bytes, utf8('Answer: 42\nUser: more'), ['\nUser:']);
    expect(stopped).toBe(true);
    expect(text).toBe('Answer: 42');
    expect(deltas.join('')).toBe('Answer: 42');
    const words = await stream(sentencePiece, [0, 1, 2, 3], ['d, a']);
    expect(words.text).toBe('Hello worl');
    // A possible start that turns out not to be a stop string is released.
    const released = await stream(bytes, utf8('x\nUse it'), ['\nUser:']);
    expect(released.text).toBe('x\nUse it');
    expect(released.stopped).toBe(false);
  });

  test('the stop filter holds only what could start a stop string; the earliest stop wins', () => {
    const f = new StopFilter(['END', 'STOP']);
    expect(f.push('abc S')).toBe('abc ');
    expect(f.push('T')).toBe('');
    expect(f.push('x E')).toBe('STx ');
    expect(f.push('NDING')).toBe('');
    expect(f.stopped).toBe(true);
    expect(f.matched).toBe('END');
    const g = new StopFilter(['b', 'ab']);
    expect(g.push('xab')).toBe('x');
    expect(g.matched).toBe('ab');
  });

  test('the stop option and the other generation options are validated', () => {
    expect(checkStopStrings('x')).toEqual(['x']);
    expect(checkStopStrings(undefined)).toEqual([]);
    for (const bad of [[''], [1], 'x'.repeat(300), Array(17).fill('a'), {}]) {
      expect(() => checkStopStrings(bad)).toThrow(
        expect.objectContaining({ name: 'DataError', message: expect.stringContaining('stop') }),
      );
    }
    expect(() => checkGenerationOptions({ maxNewTokens: 0 })).toThrow(/maxNewTokens/);
    expect(checkGenerationOptions({ maxNewTokens: 5, stop: 'x', seed: 1 })).toEqual({
      maxNewTokens: 5,
      stop: ['x'],
      seed: 1,
    });
    expect(GENERATION_OPTIONS).toContain('repetitionPenalty');
  });
});
