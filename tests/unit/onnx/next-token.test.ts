/**
 * The greedy next-token head (extension/onnx/next-token.ts) on a graph whose logits are its input, so every value is
 * chosen here: the nodes and I/O it adds, what onnxruntime-node computes with them (the tokenizer's limit, padded
 * columns holding the largest values, ties broken to the first id as sampling.ts's argmax does, several positions,
 * fp16), the graphs it leaves alone, and prepare.ts adding it as stored and quantized.
 */
import { describe, expect, it } from 'vitest';
import { makeNode, onnx, parseModel, serializeModel } from '../../../extension/onnx/model';
import { appendNextToken, NEXT_TOKEN_OUTPUT, VOCAB_LIMIT_INPUT } from '../../../extension/onnx/next-token';
import { DataType } from '../../../extension/onnx/tensor';
import { prepareModel } from '../../../extension/host/prepare';
import { graphIo } from '../../../extension/host/graph';
import { DEFAULT_POLICY } from '../../../extension/onnx';
import { argmax } from '../../../extension/tasks/generation/sampling';
import { toFloat16 } from '../../../extension/quant/fp16';
import { ort, runModel, singleGraphModel, valueInfo } from './ort';
import { intsAttr, tinyTransformer, weight } from './graphs';

/** logits = Identity(x): x [1, positions, width] is the logits the head reads. */
function logitsGraph(elemType: number = DataType.FLOAT, opset = 17): onnx.ModelProto {
  return singleGraphModel(
    {
      name: 'logits',
      input: [valueInfo('x', elemType, ['batch_size', 'sequence_length', 'vocab'])],
      output: [valueInfo('logits', elemType, ['batch_size', 'sequence_length', 'vocab'])],
      node: [makeNode('Identity', ['x'], ['logits'], 'id')],
    },
    opset,
  );
}

async function headToken(model: onnx.ModelProto, logits: Float32Array, positions: number, limit: number) {
  const width = logits.length / positions;
  const fp16 = model.graph!.input![0]!.type!.tensorType!.elemType === DataType.FLOAT16;
  const x = fp16
    ? new ort.Tensor('float16', toFloat16(logits), [1, positions, width])
    : new ort.Tensor('float32', logits, [1, positions, width]);
  const out = await runModel(model, {
    x,
    [VOCAB_LIMIT_INPUT]: new ort.Tensor('int64', BigInt64Array.of(BigInt(limit)), [1]),
  });
  expect(out[NEXT_TOKEN_OUTPUT]!.type).toBe('int64');
  expect(out[NEXT_TOKEN_OUTPUT]!.dims).toEqual([1, 1]);
  return Number((out[NEXT_TOKEN_OUTPUT]!.data as BigInt64Array)[0]);
}

/** Positions × width logits from a small generator; the last row is what the head must reduce. */
function rows(positions: number, width: number, seed = 1): Float32Array {
  const out = new Float32Array(positions * width);
  let s = seed;
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = (s / 2147483648) * 8 - 4;
  }
  return out;
}

describe('the next-token head', () => {
  it('adds Slice (last position), Slice (vocabulary limit) and ArgMax, one int64 input and one int64 output', () => {
    const model = logitsGraph();
    expect(appendNextToken(model)).toBe(true);
    const nodes = model.graph!.node!.slice(1);
    expect(nodes.map((n) => n.opType)).toEqual(['Slice', 'Slice', 'ArgMax']);
    expect(nodes[0]!.input![0]).toBe('logits');
    expect(nodes[1]!.input![2]).toBe(VOCAB_LIMIT_INPUT);
    expect(nodes[2]!.output).toEqual([NEXT_TOKEN_OUTPUT]);
    const attrs = Object.fromEntries(nodes[2]!.attribute!.map((a) => [a.name, Number(a.i)]));
    expect(attrs).toEqual({ axis: 2, keepdims: 0 }); // select_last_index absent = 0: the first maximum
    const io = graphIo(parseModel(serializeModel(model)));
    expect(io.inputs).toContainEqual({ name: VOCAB_LIMIT_INPUT, type: 'int64', dims: [1] });
    expect(io.outputs).toContainEqual({ name: NEXT_TOKEN_OUTPUT, type: 'int64', dims: ['batch_size', 1] });
    expect(io.outputs.map((o) => o.name)).toEqual(['logits', NEXT_TOKEN_OUTPUT]);
  });

  it("gives sampling.ts's greedy pick of the last row below the limit; padded columns past it never win", async () => {
    const model = logitsGraph();
    appendNextToken(model);
    const width = 1000;
    const limit = 937;
    for (const positions of [1, 5]) {
      const logits = rows(positions, width, positions);
      const last = logits.subarray((positions - 1) * width);
      for (let j = limit; j < width; j++) last[j] = 100 + j; // the padding holds the largest values
      last[3] = 50; // the best real token, larger than every earlier row's values too
      if (positions > 1) logits[5] = 99; // a larger value at an earlier position (a prefill's) must not count
      const expected = argmax(last.subarray(0, limit));
      expect(expected).toBe(3);
      expect(await headToken(model, logits, positions, limit)).toBe(expected);
      // Without the limit the padding would win: the limit is what keeps it out.
      expect(await headToken(model, logits, positions, width)).toBe(width - 1);
    }
  });

  it('breaks ties to the first id, as the CPU argmax does', async () => {
    const model = logitsGraph();
    appendNextToken(model);
    const width = 300;
    const logits = new Float32Array(width).fill(1);
    logits[40] = 7;
    logits[41] = 7;
    logits[250] = 7;
    expect(argmax(logits)).toBe(40);
    expect(await headToken(model, logits, 1, width)).toBe(40);
    logits.fill(0); // all equal: id 0
    expect(await headToken(model, logits, 1, width)).toBe(0);
    // A limit that cuts between the tied maxima still picks the first one below it.
    logits[100] = 2;
    logits[200] = 2;
    expect(await headToken(model, logits, 1, 150)).toBe(100);
  });

  it('reads float16 logits', async () => {
    const model = logitsGraph(DataType.FLOAT16);
    expect(appendNextToken(model)).toBe(true);
    const logits = rows(2, 500, 7);
    logits[500 + 321] = 20;
    expect(await headToken(model, logits, 2, 400)).toBe(321);
  });

  it('leaves graphs it cannot serve as they are: no float logits output, opset below 10, names taken', () => {
    const cases = [
      tinyTransformer(), // output "y"
      logitsGraph(DataType.FLOAT, 9),
      (() => {
        const m = logitsGraph();
        m.graph!.input!.push(valueInfo(VOCAB_LIMIT_INPUT, DataType.INT64, [1]));
        return m;
      })(),
    ];
    for (const model of cases) {
      const before = serializeModel(model);
      expect(appendNextToken(model)).toBe(false);
      expect(serializeModel(model)).toEqual(before);
    }
  });

  it('prepare.ts adds it when asked, to a graph run as stored and to a quantized one', () => {
    const source = serializeModel(logitsGraph());
    const plain = prepareModel(source, null);
    expect(plain.bytes).toBe(source);
    expect(plain.io.outputs.map((o) => o.name)).toEqual(['logits']);
    const stored = prepareModel(source, null, [], { nextToken: true });
    expect(stored.asStored).toBe(true);
    expect(stored.io.outputs.map((o) => o.name)).toEqual(['logits', NEXT_TOKEN_OUTPUT]);
    expect(stored.io.inputs.map((i) => i.name)).toEqual(['x', VOCAB_LIMIT_INPUT]);
    const quantized = prepareModel(source, DEFAULT_POLICY, [], { nextToken: true });
    expect(quantized.asStored).toBe(false);
    expect(graphIo(parseModel(quantized.bytes)).outputs.map((o) => o.name)).toEqual(['logits', NEXT_TOKEN_OUTPUT]);
  });
});

/** logits = MatMul(x, head) with the head a constant [hidden, vocab], a tied table's Transpose, or a graph input. */
function headGraph(kind: 'matrix' | 'tied' | 'input', hidden: number, vocab: number): onnx.ModelProto {
  const dims = (last: string | number) => ['batch_size', 'sequence_length', last];
  const graph: onnx.IGraphProto = {
    name: 'head',
    input: [valueInfo('x', DataType.FLOAT, dims(hidden))],
    output: [valueInfo('logits', DataType.FLOAT, dims(vocab))],
    initializer: [],
    node: [],
  };
  if (kind === 'matrix') {
    graph.initializer!.push(weight('w', [hidden, vocab], 3, 1));
    graph.node!.push(makeNode('MatMul', ['x', 'w'], ['logits'], 'lm_head'));
  } else if (kind === 'tied') {
    graph.initializer!.push(weight('embed', [vocab, hidden], 4, 1));
    graph.node!.push(
      makeNode('Transpose', ['embed'], ['embed_t'], 'tie', [intsAttr('perm', [1, 0])]),
      makeNode('MatMul', ['x', 'embed_t'], ['logits'], 'lm_head'),
    );
  } else {
    graph.input!.push(valueInfo('w', DataType.FLOAT, [hidden, vocab]));
    graph.node!.push(makeNode('MatMul', ['x', 'w'], ['logits'], 'lm_head'));
  }
  return singleGraphModel(graph);
}

describe('the next-token head before the output head', () => {
  const hidden = 16;
  const vocab = 200;
  const positions = 5;
  const x = rows(positions, hidden, 11);
  const limit = new ort.Tensor('int64', BigInt64Array.of(BigInt(vocab)), [1]);

  for (const kind of ['matrix', 'tied'] as const) {
    it(`runs a ${kind} head on the last position only: logits of one position, the same token`, async () => {
      const plain = headGraph(kind, hidden, vocab);
      const full = await runModel(plain, { x: new ort.Tensor('float32', x, [1, positions, hidden]) });
      const allRows = full.logits!.data as Float32Array;
      const lastRow = allRows.subarray((positions - 1) * vocab);

      const model = headGraph(kind, hidden, vocab);
      expect(appendNextToken(model)).toBe(true);
      const nodes = model.graph!.node!;
      const head = nodes.find((n) => n.name === 'lm_head')!;
      const slice = nodes[nodes.indexOf(head) - 1]!;
      expect([slice.opType, slice.input![0], slice.output![0]]).toEqual(['Slice', 'x', head.input![0]]);
      expect(graphIo(model).outputs.find((o) => o.name === 'logits')!.dims).toEqual(['batch_size', 1, vocab]);

      const out = await runModel(model, {
        x: new ort.Tensor('float32', x, [1, positions, hidden]),
        [VOCAB_LIMIT_INPUT]: limit,
      });
      expect(out.logits!.dims).toEqual([1, 1, vocab]);
      const one = out.logits!.data as Float32Array;
      for (let j = 0; j < vocab; j++) expect(one[j]).toBeCloseTo(lastRow[j]!, 4);
      expect(Number((out[NEXT_TOKEN_OUTPUT]!.data as BigInt64Array)[0])).toBe(argmax(lastRow));
    });
  }

  it('leaves a head whose weight is a graph input where it is (logits of every position, the head after it)', () => {
    const model = headGraph('input', hidden, vocab);
    expect(appendNextToken(model)).toBe(true);
    expect(model.graph!.node![0]!.input).toEqual(['x', 'w']);
    expect(model.graph!.node![1]!.input![0]).toBe('logits');
    expect(graphIo(model).outputs.find((o) => o.name === 'logits')!.dims).toEqual([
      'batch_size',
      'sequence_length',
      vocab,
    ]);
  });

  it('moves before a quantized head (MatMulNBits) and gives the quantized graph’s greedy token', async () => {
    const source = tinyTransformer(6, 32, 64);
    source.graph!.output![0]!.name = 'logits';
    source.graph!.node!.at(-1)!.output = ['logits'];
    const bytes = serializeModel(source);
    const quantized = prepareModel(bytes, DEFAULT_POLICY);
    const withHead = prepareModel(bytes, DEFAULT_POLICY, [], { nextToken: true });
    const model = parseModel(withHead.bytes);
    const head = model.graph!.node!.find((n) => n.output?.includes('logits'))!;
    expect(head.opType).toBe('MatMulNBits');
    expect(head.input![0]).toBe(`${NEXT_TOKEN_OUTPUT}_hidden`);

    const input = new ort.Tensor('float32', rows(6, 32, 5), [1, 6, 32]);
    const all = (await runModel(quantized.bytes, { x: input })).logits!.data as Float32Array;
    const lastRow = all.subarray(5 * 64);
    const out = await runModel(withHead.bytes, {
      x: input,
      [VOCAB_LIMIT_INPUT]: new ort.Tensor('int64', BigInt64Array.of(64n), [1]),
    });
    expect(out.logits!.dims).toEqual([1, 1, 64]);
    const one = out.logits!.data as Float32Array;
    for (let j = 0; j < 64; j++) expect(one[j]).toBeCloseTo(lastRow[j]!, 4);
    expect(Number((out[NEXT_TOKEN_OUTPUT]!.data as BigInt64Array)[0])).toBe(argmax(lastRow));
  });
});
