/**
 * A tiny decoder-only transformer graph in the Hugging Face ONNX export's I/O (what optimum and transformers.js use
 * for Llama and Qwen2), generated with onnx-proto from standard ops so onnxruntime-node runs it: input_ids,
 * attention_mask, position_ids (optional: without it the graph counts positions from the past length), and
 * past_key_values.N.key|value → logits, present.N.key|value. Per layer: RMSNorm (from primitive ops), q/k/v
 * projections (Qwen2 has biases on them), Qwen3's per-head RMSNorm on q and k (`qkNorm`), rotary position embedding
 * (from primitive ops), attention over the past
 * concatenated with the new keys along the sequence axis, grouped-query (fewer kv heads, repeated), causal and
 * padding masks, output projection, SiLU-gated MLP. Tied input/output embeddings as both real models have.
 * With `attention: 'group-query'` the attention (rotary, cache concatenation, grouped heads, causal and padding
 * masks) is one com.microsoft GroupQueryAttention node per layer instead, over the same weights under the same
 * names: the two graphs of one seed compute the same function, which the tests check.
 *
 * The weights are seeded random: what the model says is checked against a reference loop in the tests, not scripted.
 * The final norm's weight is centred at zero (random signs) so the tied head does not just repeat its input token.
 */
import { onnx } from 'onnx-proto';
import { intAttr, makeNode, MS_DOMAIN, valueInfo } from '../../extension/onnx/model';
import { DataType, floatTensor, rawTensor } from '../../extension/onnx/tensor';
import { hashName, mulberry32 } from '../../extension/shared/random';

export interface DecoderLmSpec {
  hidden: number;
  heads: number;
  kvHeads: number;
  layers: number;
  intermediate: number;
  vocabSize: number;
  ropeTheta: number;
  rmsEps: number;
  /** Qwen2: biases on q, k, v. */
  qkvBias: boolean;
  /**
   * Qwen3: RMSNorm over each head's vector of q and k (`self_attn.q_norm.weight`, `self_attn.k_norm.weight`, headDim
   * each), after the projection and before rotary, as transformers' Qwen3Attention does. Plain attention only.
   */
  qkNorm?: boolean;
  /** Width of one head (config.json head_dim); default hidden / heads. Qwen3 sets it apart from that quotient. */
  headDim?: number;
  /** Declare a position_ids input (the HF exports do); false = positions from the past length. */
  positionIds: boolean;
  /**
   * 'plain' (default): MatMul/Softmax attention from standard ops, as optimum exports it. 'group-query': one
   * com.microsoft GroupQueryAttention node per layer (rotary inside it from cos/sin caches, seqlens_k and
   * total_sequence_length derived from attention_mask in the graph), as onnxruntime's model builder exports it.
   */
  attention?: 'plain' | 'group-query';
  /** Rows of the GroupQueryAttention cos/sin caches: the most positions the graph can run (default 256). */
  rotaryPositions?: number;
}

const ints = (name: string, values: number[]) =>
  onnx.AttributeProto.create({ name, ints: values, type: onnx.AttributeProto.AttributeType.INTS });

class Graph {
  readonly nodes: onnx.NodeProto[] = [];
  readonly initializers: onnx.TensorProto[] = [];
  private count = 0;
  constructor(private readonly seed: number) {}

  op(type: string, inputs: string[], attrs: onnx.AttributeProto[] = [], output?: string): string {
    const out = output ?? `/${type}_${this.count}`;
    this.nodes.push(makeNode(type, inputs, [out], `${out}/${type}_${this.count++}`, attrs));
    return out;
  }

  /** Uniform in ±√3·std (variance std²), plus `mean`. */
  weight(name: string, dims: number[], std: number, mean = 0): string {
    const random = mulberry32(this.seed ^ hashName(name));
    const values = new Float32Array(dims.reduce((a, b) => a * b, 1));
    const half = Math.sqrt(3) * std;
    for (let i = 0; i < values.length; i++) values[i] = mean + (random() * 2 - 1) * half;
    this.initializers.push(floatTensor(name, dims, values));
    return name;
  }

  floats(name: string, dims: number[], values: number[]): string {
    this.initializers.push(floatTensor(name, dims, Float32Array.from(values)));
    return name;
  }

  int64(name: string, dims: number[], values: number[]): string {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.initializers.push(rawTensor(name, DataType.INT64, dims, new Uint8Array(data.buffer)));
    return name;
  }
}

/** The model.onnx bytes of `spec` with weights from `seed`. */
export function decoderLmModel(spec: DecoderLmSpec, seed: number): Uint8Array {
  const { hidden, heads, kvHeads, layers, intermediate, vocabSize } = spec;
  const headDim = spec.headDim ?? hidden / heads;
  if (spec.qkNorm && spec.attention === 'group-query')
    throw new Error('decoderLmModel: q/k norms are generated for plain attention only');
  const half = headDim / 2;
  const g = new Graph(seed);
  const past = (i: number, part: string) => `past_key_values.${i}.${part}`;

  const inputs = [
    valueInfo('input_ids', DataType.INT64, ['batch_size', 'sequence_length']),
    valueInfo('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']),
  ];
  if (spec.positionIds) inputs.push(valueInfo('position_ids', DataType.INT64, ['batch_size', 'sequence_length']));
  const outputs = [valueInfo('logits', DataType.FLOAT, ['batch_size', 'sequence_length', vocabSize])];
  for (let i = 0; i < layers; i++)
    for (const part of ['key', 'value']) {
      inputs.push(valueInfo(past(i, part), DataType.FLOAT, ['batch_size', kvHeads, 'past_sequence_length', headDim]));
      outputs.push(
        valueInfo(`present.${i}.${part}`, DataType.FLOAT, ['batch_size', kvHeads, 'total_sequence_length', headDim]),
      );
    }

  // Plain attention's shared inputs: positions, rotary tables and masks (built once, for every layer).
  const plainSetup = () => {
    const zero = g.int64('/c/zero', [], [0]);
    const one = g.int64('/c/one', [], [1]);
    const axis0 = g.int64('/c/axis0', [1], [0]);
    const axis1 = g.int64('/c/axis1', [1], [1]);
    const axisLast = g.int64('/c/axis_last', [1], [-1]);

    // Lengths: the new tokens and the past (from layer 0's past key).
    const seqLen = g.op('Gather', [g.op('Shape', ['input_ids']), one], [intAttr('axis', 0)], '/len/sequence');
    const pastLen = g.op(
      'Gather',
      [g.op('Shape', [past(0, 'key')]), g.int64('/c/two', [], [2])],
      [intAttr('axis', 0)],
      '/len/past',
    );
    const totalLen = g.op('Add', [pastLen, seqLen], [], '/len/total');
    const queryPos = g.op('Add', [g.op('Range', [zero, seqLen, one]), pastLen], [], '/pos/query'); // [s]

    // Rotary tables from positions: angle = position × θ^(−2j/d), cos/sin of [b, 1, s, d] (halves repeated).
    const positions = spec.positionIds ? 'position_ids' : g.op('Unsqueeze', [queryPos, axis0], [], '/pos/ids');
    const invFreq = Array.from({ length: half }, (_, j) => spec.ropeTheta ** (-(2 * j) / headDim));
    const angles = g.op(
      'Mul',
      [
        g.op('Unsqueeze', [g.op('Cast', [positions], [intAttr('to', DataType.FLOAT)]), axisLast]),
        g.floats('rotary.inv_freq', [half], invFreq),
      ],
      [],
      '/rope/angles',
    ); // [b, s, half]
    const table = (fn: 'Cos' | 'Sin') => {
      const t = g.op(fn, [angles], [], `/rope/${fn}`);
      return g.op('Unsqueeze', [g.op('Concat', [t, t], [intAttr('axis', -1)]), axis1], [], `/rope/${fn}_table`);
    };
    const cos = table('Cos');
    const sin = table('Sin');
    const splitHalves = g.int64('/c/halves', [2], [half, half]);
    const rope = (x: string, name: string) => {
      const a = `${name}/x1`,
        b = `${name}/x2`;
      g.nodes.push(makeNode('Split', [x, splitHalves], [a, b], `${name}/Split`, [intAttr('axis', -1)]));
      const rotated = g.op('Concat', [g.op('Neg', [b]), a], [intAttr('axis', -1)], `${name}/rotate_half`);
      return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])], [], `${name}/rotated`);
    };

    // Masks [b, 1, s, total]: −1e9 where the attention_mask is 0 (padding) or the key is after the query (causal).
    const big = g.floats('/c/neg_big', [], [-1e9]);
    const padding = g.op(
      'Mul',
      [
        g.op('Sub', [g.floats('/c/one_f', [], [1]), g.op('Cast', ['attention_mask'], [intAttr('to', DataType.FLOAT)])]),
        big,
      ],
      [],
      '/mask/padding',
    ); // [b, total]
    const keyPos = g.op('Range', [zero, totalLen, one], [], '/pos/key');
    const future = g.op(
      'Greater',
      [g.op('Unsqueeze', [keyPos, axis0]), g.op('Unsqueeze', [queryPos, axisLast])],
      [],
      '/mask/future',
    );
    const causal = g.op('Where', [future, big, g.floats('/c/zero_f', [], [0])], [], '/mask/causal'); // [s, total]
    const mask = g.op(
      'Add',
      [g.op('Unsqueeze', [padding, g.int64('/c/axes12', [2], [1, 2])]), causal],
      [],
      '/mask/all',
    );
    return { rope, mask };
  };

  const rmsNorm = (x: string, name: string, weight: string) => {
    const meanSquare = g.op(
      'ReduceMean',
      [g.op('Mul', [x, x])],
      [ints('axes', [-1]), intAttr('keepdims', 1)],
      `${name}/mean_square`,
    );
    const rms = g.op(
      'Sqrt',
      [g.op('Add', [meanSquare, g.floats(`${name}/eps`, [], [spec.rmsEps])])],
      [],
      `${name}/rms`,
    );
    return g.op('Mul', [g.op('Div', [x, rms]), weight], [], `${name}/out`);
  };
  const linear = (x: string, name: string, inDim: number, outDim: number, bias = false) => {
    const y = g.op(
      'MatMul',
      [x, g.weight(`${name}.weight`, [inDim, outDim], 1 / Math.sqrt(inDim))],
      [],
      `/${name}/MatMul`,
    );
    return bias ? g.op('Add', [y, g.weight(`${name}.bias`, [outDim], 0.1)], [], `/${name}/Add`) : y;
  };
  /** [b, s, n·d] → [b, n, s, d]; with `norm`, RMSNorm over each head's d values on the way (Qwen3's q/k norms). */
  const toHeads = (x: string, n: number, name: string, norm?: string) => {
    const split = g.op('Reshape', [x, g.int64(`${name}/shape`, [4], [0, 0, n, headDim])]);
    const normed = norm ? rmsNorm(split, `${name}_norm`, norm) : split;
    return g.op('Transpose', [normed], [ints('perm', [0, 2, 1, 3])], name);
  };
  const repeatKv = (x: string, name: string) =>
    kvHeads === heads
      ? x
      : g.op(
          'Reshape',
          [
            g.op('Expand', [
              g.op('Unsqueeze', [x, g.int64(`${name}/axis`, [1], [2])]),
              g.int64(`${name}/reps`, [5], [1, 1, heads / kvHeads, 1, 1]),
            ]),
            g.int64(`${name}/shape`, [4], [0, heads, -1, headDim]),
          ],
          [],
          name,
        );

  /** q/k/v projections, rotary, the past concatenated with the new keys, grouped heads repeated, masked softmax. */
  const plainAttention = (i: number, p: string, h: string, shared: ReturnType<typeof plainSetup>) => {
    const { rope, mask } = shared;
    // Qwen3's norm weights: centred at 1 like the layer norms, spread so each head's scale matters.
    const norm = (which: string) =>
      spec.qkNorm ? g.weight(`${p}.self_attn.${which}.weight`, [headDim], 0.3, 1) : undefined;
    const qNorm = norm('q_norm');
    const kNorm = norm('k_norm');
    const q = rope(
      toHeads(linear(h, `${p}.self_attn.q_proj`, hidden, heads * headDim, spec.qkvBias), heads, `/${p}/q`, qNorm),
      `/${p}/q_rope`,
    );
    const k = rope(
      toHeads(linear(h, `${p}.self_attn.k_proj`, hidden, kvHeads * headDim, spec.qkvBias), kvHeads, `/${p}/k`, kNorm),
      `/${p}/k_rope`,
    );
    const v = toHeads(linear(h, `${p}.self_attn.v_proj`, hidden, kvHeads * headDim, spec.qkvBias), kvHeads, `/${p}/v`);
    const keys = g.op('Concat', [past(i, 'key'), k], [intAttr('axis', 2)], `present.${i}.key`);
    const values = g.op('Concat', [past(i, 'value'), v], [intAttr('axis', 2)], `present.${i}.value`);
    const keysT = g.op('Transpose', [repeatKv(keys, `/${p}/k_repeat`)], [ints('perm', [0, 1, 3, 2])], `/${p}/keysT`);
    const scores = g.op(
      'Add',
      [g.op('Mul', [g.op('MatMul', [q, keysT]), g.floats(`/${p}/scale`, [], [1 / Math.sqrt(headDim)])]), mask],
      [],
      `/${p}/scores`,
    );
    const context = g.op(
      'MatMul',
      [g.op('Softmax', [scores], [intAttr('axis', -1)]), repeatKv(values, `/${p}/v_repeat`)],
      [],
      `/${p}/context`,
    );
    const merged = g.op(
      'Reshape',
      [
        g.op('Transpose', [context], [ints('perm', [0, 2, 1, 3])]),
        g.int64(`/${p}/merge`, [3], [0, 0, heads * headDim]),
      ],
      [],
      `/${p}/merged`,
    );
    return merged;
  };

  // GroupQueryAttention's shared inputs, as onnxruntime's model builder derives them: seqlens_k = the mask's sum − 1
  // (int32, one per batch row), total_sequence_length = the mask's width (int32 scalar); cos/sin caches of
  // [positions, headDim / 2] for the rotary it applies to q and k itself.
  const groupQuerySetup = () => {
    const toInt32 = [intAttr('to', DataType.INT32)];
    const maskSum = g.op(
      'ReduceSum',
      ['attention_mask', g.int64('/c/axis1', [1], [1])],
      [intAttr('keepdims', 0)],
      '/gqa/mask_sum',
    );
    const seqlensK = g.op('Cast', [g.op('Sub', [maskSum, g.int64('/c/one', [], [1])])], toInt32, '/gqa/seqlens_k');
    const width = g.op(
      'Gather',
      [g.op('Shape', ['attention_mask']), g.int64('/c/one_index', [], [1])],
      [intAttr('axis', 0)],
    );
    const totalLength = g.op('Cast', [width], toInt32, '/gqa/total_sequence_length');
    const rows = spec.rotaryPositions ?? 256;
    const angles = Array.from({ length: rows * half }, (_, n) => {
      const position = Math.floor(n / half);
      return position * spec.ropeTheta ** (-(2 * (n % half)) / headDim);
    });
    const cosCache = g.floats('cos_cache', [rows, half], angles.map(Math.cos));
    const sinCache = g.floats('sin_cache', [rows, half], angles.map(Math.sin));
    return { seqlensK, totalLength, cosCache, sinCache };
  };

  /** q/k/v projections into one GroupQueryAttention node: [b, s, heads·headDim] out, the presents as graph outputs. */
  const groupQueryAttention = (i: number, p: string, h: string, shared: ReturnType<typeof groupQuerySetup>) => {
    const q = linear(h, `${p}.self_attn.q_proj`, hidden, heads * headDim, spec.qkvBias);
    const k = linear(h, `${p}.self_attn.k_proj`, hidden, kvHeads * headDim, spec.qkvBias);
    const v = linear(h, `${p}.self_attn.v_proj`, hidden, kvHeads * headDim, spec.qkvBias);
    const out = `/${p}/attn/GroupQueryAttention/output_0`;
    g.nodes.push(
      makeNode(
        'GroupQueryAttention',
        [
          q,
          k,
          v,
          past(i, 'key'),
          past(i, 'value'),
          shared.seqlensK,
          shared.totalLength,
          shared.cosCache,
          shared.sinCache,
        ],
        [out, `present.${i}.key`, `present.${i}.value`],
        `/${p}/attn/GroupQueryAttention`,
        [
          intAttr('num_heads', heads),
          intAttr('kv_num_heads', kvHeads),
          intAttr('do_rotary', 1),
          intAttr('rotary_interleaved', 0),
          intAttr('local_window_size', -1),
        ],
        MS_DOMAIN,
      ),
    );
    return out;
  };

  let attend: (i: number, p: string, h: string) => string;
  if (spec.attention === 'group-query') {
    const shared = groupQuerySetup();
    attend = (i, p, h) => groupQueryAttention(i, p, h, shared);
  } else {
    const shared = plainSetup();
    attend = (i, p, h) => plainAttention(i, p, h, shared);
  }
  let x = g.op('Gather', [g.weight('model.embed_tokens.weight', [vocabSize, hidden], 1), 'input_ids'], [], '/embed');
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}`;
    const h = rmsNorm(x, `/${p}/input_layernorm`, g.weight(`${p}.input_layernorm.weight`, [hidden], 0.1, 1));
    const merged = attend(i, p, h);
    x = g.op('Add', [x, linear(merged, `${p}.self_attn.o_proj`, heads * headDim, hidden)], [], `/${p}/attn_residual`);
    const m = rmsNorm(
      x,
      `/${p}/post_attention_layernorm`,
      g.weight(`${p}.post_attention_layernorm.weight`, [hidden], 0.1, 1),
    );
    const gate = linear(m, `${p}.mlp.gate_proj`, hidden, intermediate);
    const silu = g.op('Mul', [gate, g.op('Sigmoid', [gate])], [], `/${p}/mlp/silu`);
    const up = linear(m, `${p}.mlp.up_proj`, hidden, intermediate);
    x = g.op(
      'Add',
      [x, linear(g.op('Mul', [silu, up]), `${p}.mlp.down_proj`, intermediate, hidden)],
      [],
      `/${p}/mlp_residual`,
    );
  }
  const final = rmsNorm(x, '/model/norm', g.weight('model.norm.weight', [hidden], 1));
  const head = g.op('Transpose', ['model.embed_tokens.weight'], [ints('perm', [1, 0])], '/lm_head/tied');
  g.op('MatMul', [final, head], [], 'logits');

  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'webq-tests',
    opsetImport:
      spec.attention === 'group-query'
        ? [
            { domain: '', version: 17 },
            { domain: MS_DOMAIN, version: 1 },
          ]
        : [{ domain: '', version: 17 }],
    graph: { name: 'decoder_lm', node: g.nodes, initializer: g.initializers, input: inputs, output: outputs },
  });
  return onnx.ModelProto.encode(model).finish();
}
