import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { checkFeeds, freeDimensionsFrom, graphIo } from '../../../extension/host/graph';
import { parseModel, reportWeights } from '../../../extension/onnx';
import { MODELS } from '../../../tools/fixtures';

describe('what the engine reads from a model graph', () => {
  const vad = parseModel(readFileSync(MODELS.sileroVad));
  const io = graphIo(vad);

  it('lists the real inputs of Silero VAD, not its initializers', () => {
    expect(io.inputs).toEqual([
      { name: 'input', type: 'float32', dims: ['?', '?'] },
      { name: 'state', type: 'float32', dims: [2, '?', 128] },
      { name: 'sr', type: 'int64', dims: [] },
    ]);
  });

  it('checks feeds: names, types, ranks and static dims, each with a clear message', () => {
    const ok = {
      input: { type: 'float32', dims: [1, 512] },
      state: { type: 'float32', dims: [2, 1, 128] },
      sr: { type: 'int64', dims: [] },
    };
    expect(() => checkFeeds(io, ok)).not.toThrow();
    expect(() => checkFeeds(io, { ...ok, extra: { type: 'float32', dims: [1] } })).toThrow(
      /"extra" is not an input of this model; its inputs are input, state, sr/,
    );
    expect(() => checkFeeds(io, { input: ok.input, state: ok.state })).toThrow(/"sr" is missing \(int64 \[\]\)/);
    expect(() => checkFeeds(io, { ...ok, sr: { type: 'int32', dims: [] } })).toThrow(/"sr" must be int64, got int32/);
    expect(() => checkFeeds(io, { ...ok, state: { type: 'float32', dims: [2, 1, 64] } })).toThrow(
      /dimension 2 must be 128/,
    );
    expect(() => checkFeeds(io, { ...ok, state: { type: 'float32', dims: [256] } })).toThrow(/rank 3/);
  });

  it('pins named free dimensions from feeds, and refuses conflicting values', () => {
    const named = {
      inputs: [
        { name: 'a', type: 'float32', dims: ['batch', 'seq'] },
        { name: 'b', type: 'int64', dims: ['batch'] },
      ],
      outputs: [],
    };
    expect(freeDimensionsFrom(named, { a: { dims: [2, 7] }, b: { dims: [2] } })).toEqual({ batch: 2, seq: 7 });
    expect(() => freeDimensionsFrom(named, { a: { dims: [2, 7] }, b: { dims: [3] } })).toThrow(
      /dimension batch is 2 in one input and 3/,
    );
  });

  it('counts the weights held in subgraphs (Silero keeps them inside If branches)', () => {
    const r = reportWeights(vad);
    expect(r.modelBytes).toBeGreaterThan(2_000_000);
    expect(r.originalBytes).toBe(r.modelBytes);
    expect(r.preQuantized.detected).toBe(false);
    expect(r.weights.length).toBeGreaterThan(10);
    expect(r.weights.every((w) => w.precision === 32 && w.name.length > 0)).toBe(true);
  });

  it('rejects bytes that are not ONNX with a DataError', () => {
    expect(() => parseModel(new TextEncoder().encode('not a model at all'))).toThrow(/not a valid ONNX protobuf/);
  });
});
