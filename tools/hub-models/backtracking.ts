/**
 * A hostile tokenizer.json (issue 13): a WordPiece tokenizer whose Split pre-tokenizer regex `(a+)+b` backtracks
 * catastrophically on a run of "a" with no "b" — each extra "a" doubles the time (24 take ~0.2 s in V8, 40 take
 * hours). Ordinary words tokenize at once, so the same file shows a tokenizer that works and then freezes.
 */
export const BACKTRACKING_TEXT = `${'a'.repeat(40)}!`;

export function backtrackingTokenizerJson(): Record<string, unknown> {
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'a', 'b', 'hello', 'world', '!'];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: { type: 'Split', pattern: { Regex: '(a+)+b' }, behavior: 'Isolated', invert: false },
    post_processor: null,
    decoder: null,
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((token, id) => [token, id])),
    },
  };
}
