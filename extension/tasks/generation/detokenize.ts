/**
 * Token ids → text deltas while generating (SPEC §8 `stream`): each delta is whole characters (never half of a
 * UTF-8 sequence split over byte tokens such as Llama's `<0xE2>` or a byte-level BPE piece of an emoji), and never
 * text that might still turn out to be the start of a stop string. The concatenated deltas are the output's `text`.
 *
 * Any tokenizer's own decode is used, on a window: the text of the tokens since the last emitted boundary is
 * decoded with the one token before it and compared with the text without the new ones, so decoders that strip a
 * leading space from their first token (SentencePiece) or clean up spaces behave as on the whole sequence. A window
 * whose text ends in U+FFFD is an incomplete character: it is held until a later token completes it (or, after
 * MAX_HELD_TOKENS, emitted as it is — the model really produced invalid bytes).
 */
import { dataError } from '../../shared/errors';

/** A UTF-8 character is at most 4 bytes: a byte-fallback tokenizer needs at most 4 tokens to complete one. */
export const MAX_HELD_TOKENS = 8;
export const MAX_STOP_STRINGS = 16;
export const MAX_STOP_LENGTH = 256;

export type Decode = (ids: number[]) => Promise<string> | string;

/** Validates the `stop` option: a string or an array of non-empty strings. */
export function checkStopStrings(v: unknown): string[] {
  if (v === undefined) return [];
  const list = typeof v === 'string' ? [v] : v;
  const ok =
    Array.isArray(list) &&
    list.length <= MAX_STOP_STRINGS &&
    list.every((s) => typeof s === 'string' && s.length > 0 && s.length <= MAX_STOP_LENGTH);
  if (!ok) {
    throw dataError(
      `option stop must be a string or an array of at most ${MAX_STOP_STRINGS} non-empty strings ` +
        `of at most ${MAX_STOP_LENGTH} characters`,
    );
  }
  return [...(list as string[])];
}

/**
 * Holds back the tail of the text that could begin a stop string, and cuts the text where one appears. Text pushed
 * after a stop is ignored.
 */
export class StopFilter {
  private held = '';
  stopped = false;
  /** The stop string that ended the text, when one did. */
  matched: string | undefined;

  constructor(private readonly stops: readonly string[]) {}

  /** New decoded text in; the part now safe to emit out. */
  push(piece: string): string {
    if (this.stopped) return '';
    const buffer = this.held + piece;
    let cut = -1;
    for (const stop of this.stops) {
      const at = buffer.indexOf(stop);
      if (at >= 0 && (cut < 0 || at < cut)) {
        cut = at;
        this.matched = stop;
      }
    }
    if (cut >= 0) {
      this.stopped = true;
      this.held = '';
      return buffer.slice(0, cut);
    }
    const keep = this.unresolvedTail(buffer);
    this.held = buffer.slice(buffer.length - keep);
    return buffer.slice(0, buffer.length - keep);
  }

  /** The held text, once no more text will come (it did not become a stop string). */
  flush(): string {
    const rest = this.stopped ? '' : this.held;
    this.held = '';
    return rest;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of a stop string. */
  private unresolvedTail(text: string): number {
    let longest = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, text.length); n > longest; n--) {
        if (text.endsWith(stop.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }
}

/** Incremental decoding of one generated sequence into complete-character text pieces. */
export class IncrementalDecoder {
  private readonly ids: number[] = [];
  /** ids[prefix, read) were emitted; ids[prefix] gives the window its left context. */
  private prefix = 0;
  private read = 0;

  /**
   * The text of ids[prefix, read): the next window's left context. It is fixed as soon as a delta is emitted, so it is
   * asked for then — in the engine the tokenizer is a worker round trip, which now overlaps the model's next step
   * instead of following it (one round trip per token on the generation's path instead of two).
   */
  private context: { prefix: number; read: number; text: Promise<string> } | null = null;

  constructor(private readonly decode: Decode) {}

  /** Adds one token; the new complete text ('' while a character is incomplete). */
  async push(id: number): Promise<string> {
    this.ids.push(id);
    return this.advance(false);
  }

  /** Whatever is still held (an incomplete character at the end), as the tokenizer decodes it. */
  async flush(): Promise<string> {
    return this.read < this.ids.length ? this.advance(true) : '';
  }

  private contextText(): Promise<string> {
    const c = this.context;
    if (c && c.prefix === this.prefix && c.read === this.read) return c.text;
    const text = this.decodeNow(this.ids.slice(this.prefix, this.read));
    this.context = { prefix: this.prefix, read: this.read, text };
    return text;
  }

  /** Asks for the text of `ids` now (a throwing decode becomes a rejected promise). */
  private decodeNow(ids: number[]): Promise<string> {
    try {
      return Promise.resolve(this.decode(ids));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async advance(force: boolean): Promise<string> {
    // Asked before anything is awaited: in the engine this posts to the tokenizer's worker at once, so the decoding
    // overlaps what the caller starts next (decode-loop.ts: the model's step on this token).
    const text = this.decodeNow(this.ids.slice(this.prefix));
    text.catch(() => undefined); // reported by the await below, unless the context's failure comes first
    const before = this.read > this.prefix ? await this.contextText() : '';
    const after = await text;
    if (!force && after.endsWith('\uFFFD') && this.ids.length - this.read < MAX_HELD_TOKENS) return '';
    // `before` was emitted already. A decoder that rewrites its left context (space clean-up) cannot take back
    // what was emitted: only the part after the common prefix is new.
    const start = after.startsWith(before) ? before.length : commonPrefix(before, after);
    this.prefix = this.read;
    this.read = this.ids.length;
    // Asked for now, awaited by the next push (which reports a failure); no unhandled rejection meanwhile.
    if (this.read > this.prefix) this.contextText().catch(() => undefined);
    return after.slice(start);
  }
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Tokens in, safe deltas out: incremental decoding followed by the stop filter. */
export class Detokenizer {
  private readonly decoder: IncrementalDecoder;
  private readonly filter: StopFilter;
  /** Everything emitted so far: the output's text. */
  text = '';

  constructor(decode: Decode, stops: readonly string[] = []) {
    this.decoder = new IncrementalDecoder(decode);
    this.filter = new StopFilter(stops);
  }

  get stopped(): boolean {
    return this.filter.stopped;
  }
  get matchedStop(): string | undefined {
    return this.filter.matched;
  }

  /** The delta this token makes visible ('' when held back). */
  async push(id: number): Promise<string> {
    return this.emit(this.filter.push(await this.decoder.push(id)));
  }

  /** The last delta at the end of generation: held text that never completed a stop string. */
  async finish(): Promise<string> {
    const rest = this.filter.push(await this.decoder.flush());
    return this.emit(rest + this.filter.flush());
  }

  private emit(delta: string): string {
    this.text += delta;
    return delta;
  }
}
