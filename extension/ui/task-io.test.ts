import { describe, expect, it } from 'vitest';
import { embeddingRows, labelSets, mixToMono, taskAgreement, textInput } from './task-io';

describe('task inputs', () => {
  it('text: one string per non-blank line; one line is a string, several a batch', () => {
    expect(textInput('hello world\n')).toBe('hello world');
    expect(textInput('  a  \r\n\nb\n  ')).toEqual(['a', 'b']);
    expect(() => textInput(' \n\n')).toThrow(/type some text/);
  });

  it('audio: channels are averaged into one', () => {
    expect(mixToMono([new Float32Array([1, -1])])).toEqual(new Float32Array([1, -1]));
    expect(mixToMono([new Float32Array([1, 0.5]), new Float32Array([0, -0.5])])).toEqual(new Float32Array([0.5, 0]));
    expect(() => mixToMono([])).toThrow(/no channels/);
  });
});

describe('task outputs', () => {
  const emb = (rows: number[][]) => ({
    embeddings: Float32Array.from(rows.flat()),
    dims: [rows.length, rows[0]!.length],
    tokens: rows.map((_, i) => new Array(i + 3).fill(0)),
  });

  it('embedding rows: tokens per input, L2 norm, first values', () => {
    const rows = embeddingRows(
      emb([
        [3, 4, 0],
        [0, 0, 1],
      ]),
      2,
    );
    expect(rows).toEqual([
      { tokens: 3, norm: 5, first: [3, 4] },
      { tokens: 4, norm: 1, first: [0, 0] },
    ]);
  });

  it('agreement of embeddings: cosine per input', () => {
    const r = taskAgreement(
      'feature-extraction',
      emb([
        [1, 0],
        [1, 1],
      ]),
      emb([
        [1, 0],
        [1, -1],
      ]),
    );
    expect(r).toEqual({
      kind: 'embeddings',
      rows: [
        { cosine: 1, maxAbsDiff: 0 },
        { cosine: 0, maxAbsDiff: 2 },
      ],
    });
    expect(() => taskAgreement('feature-extraction', emb([[1, 0]]), emb([[1, 0, 0]]))).toThrow(/differ in shape/);
  });

  it("agreement of labels: same top label and |Δscore| of the first side's top label, per image", () => {
    const a = [
      {
        labels: [
          { label: 'red', score: 0.9 },
          { label: 'blue', score: 0.1 },
        ],
      },
      { labels: [{ label: 'green', score: 0.6 }] },
    ];
    const b = [
      {
        labels: [
          { label: 'red', score: 0.85 },
          { label: 'blue', score: 0.15 },
        ],
      },
      { labels: [{ label: 'cyan', score: 0.7 }] },
    ];
    const r = taskAgreement('image-classification', a, b);
    if (r.kind !== 'labels') throw new Error(r.kind);
    expect(r.rows.map((x) => x.same)).toEqual([true, false]);
    expect(r.rows[0]!.deltaScore).toBeCloseTo(0.05, 6);
    expect(r.rows[1]!.deltaScore).toBeNull();
    expect(labelSets({ labels: [] })).toEqual([[]]);
  });

  it('agreement of transcripts: the same text', () => {
    expect(
      taskAgreement(
        'automatic-speech-recognition',
        { text: ' A low hum.', tokens: [] },
        { text: 'A low hum.', tokens: [] },
      ),
    ).toMatchObject({ same: true });
    expect(
      taskAgreement('automatic-speech-recognition', { text: 'a', tokens: [] }, { text: 'b', tokens: [] }),
    ).toMatchObject({ same: false });
  });
});
