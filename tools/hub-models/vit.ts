/**
 * A small ViT-shaped image classifier in the layout of the hub repo Xenova/vit-base-patch16-224
 * (`preprocessor_config.json`, `config.json`, `onnx/model.onnx`), generated so its answers can be checked:
 * a uniformly coloured image is classified as its colour.
 *
 *   pixel_values [batch, 3, 224, 224]
 *   → Conv 16×16 stride 16 (patch embedding, D = 64) → tokens [batch, 196, D] + position embedding
 *   → x + attention(LayerNorm(x))   (q, k, v, o projections, one head)
 *   → x + MLP(LayerNorm(x))         (D → 2D → D, GELU as exported by transformers: Div, Erf, Add, Mul, Mul)
 *   → mean over tokens → classifier MatMul → logits [batch, 10]
 *
 * How the answer is designed: residual channels 0..2 hold each patch's mean R, G, B (normalised to −1..1) and
 * nothing else writes to them (the position embedding, the attention output and the MLP output are zero there).
 * The classifier reads them with weight ±COLOUR_GAIN, the sign pattern of the label's colour (red = +,−,−): a
 * pure colour scores 3·COLOUR_GAIN for its own label and at most 1·COLOUR_GAIN for any other. Every other weight
 * is seeded pseudo-random (mulberry32) and small, so it perturbs the logits by far less than that margin, before
 * and after 8-bit quantization. All MatMul weights have K ≥ 64, so the quantizer rewrites them.
 *
 * VitOptions build the same design at other sizes (the benchmark's ViT-base: 12 layers of 12 heads, 768 wide, MLP 3072,
 * 1000 labels, ~86 M weights): deeper layers repeat the first with their own seeds, heads split q/k/v as exporters do.
 * Still no class token and no final LayerNorm: the mean of the tokens is classified.
 */
import { intAttr, makeNode, onnx, serializeModel } from '../../extension/onnx/model';
import { DataType, floatTensor, rawTensor } from '../../extension/onnx/tensor';
import { mulberry32 } from '../../extension/shared/random';
import type { HubFiles } from '../hub-mirror';

/** The model's labels, in logit order. The first eight are the corners of the RGB cube. */
export const VIT_LABELS = Object.freeze([
  'red',
  'green',
  'blue',
  'white',
  'black',
  'yellow',
  'cyan',
  'magenta',
  'tabby cat',
  'goldfish',
] as const);
export type VitLabel = (typeof VIT_LABELS)[number];
/** Each colour label's RGB (what a page paints to get that label). */
export const VIT_COLOURS: Readonly<
  Record<Exclude<VitLabel, 'tabby cat' | 'goldfish'>, readonly [number, number, number]>
> = Object.freeze({
  red: [255, 0, 0],
  green: [0, 255, 0],
  blue: [0, 0, 255],
  white: [255, 255, 255],
  black: [0, 0, 0],
  yellow: [255, 255, 0],
  cyan: [0, 255, 255],
  magenta: [255, 0, 255],
});

export const VIT_HIDDEN = 64;
const IMAGE = 224,
  PATCH = 16,
  TOKENS = (IMAGE / PATCH) ** 2,
  COLOUR_GAIN = 3;

/** The real ViT's preprocessor_config.json (Xenova/vit-base-patch16-224), field for field. */
export const VIT_PREPROCESSOR_CONFIG = Object.freeze({
  do_normalize: true,
  do_rescale: true,
  do_resize: true,
  image_mean: [0.5, 0.5, 0.5],
  image_processor_type: 'ViTImageProcessor',
  image_std: [0.5, 0.5, 0.5],
  resample: 2,
  rescale_factor: 0.00392156862745098,
  size: { height: 224, width: 224 },
});

export interface VitOptions {
  /** A fixed batch dimension (e.g. 1, as some exporters write) instead of the symbolic `batch_size`. */
  staticBatch?: number;
  /**
   * Sizes (default: the test model's, 64 wide, 1 layer of 1 head, MLP 128, 10 labels). The benchmark builds
   * vit-base-patch16-224's: hidden 768, 12 layers of 12 heads, MLP 3072, 1000 labels. Labels past VIT_LABELS are
   * named `label <i>` and read no colour channel, so a plain colour keeps its label at any size.
   */
  hidden?: number;
  layers?: number;
  heads?: number;
  intermediate?: number;
  labels?: number;
}

export const VIT_BASE_SIZE = Object.freeze({ hidden: 768, layers: 12, heads: 12, intermediate: 3072, labels: 1000 });

interface Shape {
  D: number;
  FF: number;
  layers: number;
  heads: number;
  labels: readonly string[];
}

function shapeOf(options: VitOptions): Shape {
  const D = options.hidden ?? VIT_HIDDEN;
  const heads = options.heads ?? 1;
  const count = options.labels ?? VIT_LABELS.length;
  if (D % heads !== 0) throw new RangeError(`hidden ${D} is not a multiple of heads ${heads}`);
  if (count < VIT_LABELS.length)
    throw new RangeError(`labels ${count} is below the ${VIT_LABELS.length} the tests use`);
  const labels =
    count === VIT_LABELS.length
      ? VIT_LABELS
      : [
          ...VIT_LABELS,
          ...Array.from({ length: count - VIT_LABELS.length }, (_, i) => `label ${VIT_LABELS.length + i}`),
        ];
  return { D, FF: options.intermediate ?? 2 * D, layers: options.layers ?? 1, heads, labels };
}

/** The hub files of the test ViT (or one of the sizes in `options`). */
export function vitHubFiles(options: VitOptions = {}): HubFiles {
  const { D, FF, layers, heads, labels } = shapeOf(options);
  const id2label = Object.fromEntries(labels.map((label, i) => [String(i), label]));
  const label2id = Object.fromEntries(labels.map((label, i) => [label, i]));
  const config = {
    architectures: ['ViTForImageClassification'],
    model_type: 'vit',
    hidden_size: D,
    intermediate_size: FF,
    image_size: IMAGE,
    patch_size: PATCH,
    num_channels: 3,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    layer_norm_eps: 1e-12,
    id2label,
    label2id,
  };
  return {
    'preprocessor_config.json': JSON.stringify(VIT_PREPROCESSOR_CONFIG, null, 2),
    'config.json': JSON.stringify(config, null, 2),
    'onnx/model.onnx': vitModel(options),
  };
}

/** Uniform values in [−scale, scale) from one seed per tensor, so each tensor is stable whatever else changes. */
function uniform(count: number, seed: number, scale: number): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: count }, () => (next() * 2 - 1) * scale);
}

/** Zeroes columns 0..2 of a row-major [rows, cols] matrix (or elements 0..2 of a vector): the colour channels. */
function sparingColour(values: Float32Array, cols: number): Float32Array {
  for (let r = 0; r < values.length / cols; r++) values.fill(0, r * cols, r * cols + 3);
  return values;
}

function vitModel(options: VitOptions): Uint8Array {
  const { staticBatch } = options;
  const { D, FF, layers, heads, labels } = shapeOf(options);
  const n = makeNode;
  const ints = (name: string, values: number[]) =>
    onnx.AttributeProto.create({ name, ints: values, type: onnx.AttributeProto.AttributeType.INTS });
  const scalar = (name: string, value: number) => floatTensor(name, [], Float32Array.of(value));
  const matrix = (name: string, rows: number, cols: number, seed: number, colourFree = false) => {
    const w = uniform(rows * cols, seed, 1 / Math.sqrt(rows));
    return floatTensor(name, [rows, cols], colourFree ? sparingColour(w, cols) : w);
  };
  const vector = (name: string, length: number, seed: number, scale: number, colourFree = false) => {
    const v = uniform(length, seed, scale);
    return floatTensor(name, [length], colourFree ? sparingColour(v, length) : v);
  };
  const gamma = (name: string, seed: number) =>
    floatTensor(
      name,
      [D],
      uniform(D, seed, 0.1).map((v) => 1 + v),
    );

  // Patch embedding: output channels 0..2 average one input channel over the patch; the rest are random.
  const patch = uniform(D * 3 * PATCH * PATCH, 1, 0.02);
  patch.fill(0, 0, 3 * 3 * PATCH * PATCH);
  for (let c = 0; c < 3; c++)
    patch.fill(1 / (PATCH * PATCH), (c * 3 + c) * PATCH * PATCH, (c * 3 + c + 1) * PATCH * PATCH);

  // Classifier: colour labels read channels 0..2 with their colour's sign pattern; channels 3.. are small noise
  // (its spread shrinks as 1/√D, so the noise summed over a wider model stays under the colour margin).
  const head = uniform(D * labels.length, 2, 0.05 * Math.sqrt(VIT_HIDDEN / D));
  labels.forEach((label, j) => {
    const rgb = (VIT_COLOURS as Record<string, readonly number[]>)[label];
    for (let c = 0; c < 3; c++) head[c * labels.length + j] = rgb ? (rgb[c]! > 0 ? COLOUR_GAIN : -COLOUR_GAIN) : 0;
  });

  const batch = staticBatch ? { dimValue: staticBatch } : { dimParam: 'batch_size' };
  const info = (name: string, dims: ({ dimValue: number } | { dimParam: string })[]) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims } } } });

  const initializer: onnx.ITensorProto[] = [
    floatTensor('patch.weight', [D, 3, PATCH, PATCH], patch),
    vector('patch.bias', D, 3, 0.02, true),
    rawTensor('tokens.shape', DataType.INT64, [3], new Uint8Array(BigInt64Array.of(0n, BigInt(D), -1n).buffer)),
    floatTensor('position', [TOKENS, D], sparingColour(uniform(TOKENS * D, 4, 0.02), D)),
  ];
  const node: onnx.INodeProto[] = [
    n('Conv', ['pixel_values', 'patch.weight', 'patch.bias'], ['patches'], 'patch_embed', [
      ints('kernel_shape', [PATCH, PATCH]),
      ints('strides', [PATCH, PATCH]),
    ]),
    n('Reshape', ['patches', 'tokens.shape'], ['patches.flat'], 'flatten'),
    n('Transpose', ['patches.flat'], ['tokens'], 'to_tokens', [ints('perm', [0, 2, 1])]),
    n('Add', ['tokens', 'position'], ['x0'], 'add_position'),
  ];
  const tail: onnx.ITensorProto[] = [];
  if (heads > 1) {
    tail.push(
      rawTensor(
        'heads.shape',
        DataType.INT64,
        [4],
        new Uint8Array(BigInt64Array.of(0n, 0n, BigInt(heads), BigInt(D / heads)).buffer),
      ),
    );
    tail.push(
      rawTensor('merge.shape', DataType.INT64, [3], new Uint8Array(BigInt64Array.of(0n, 0n, BigInt(D)).buffer)),
    );
  }
  for (let l = 0; l < layers; l++) {
    // Layer 0 keeps the test model's names and seeds; deeper layers are prefixed and seeded 100 apart.
    const p = (name: string) => (l === 0 ? name : `layer${l}.${name}`);
    const seed = (s: number) => s + 100 * l;
    const [xIn, xMid, xOut, h1, h2] = [`x${2 * l}`, `x${2 * l + 1}`, `x${2 * l + 2}`, `h${2 * l + 1}`, `h${2 * l + 2}`];
    initializer.push(
      gamma(p('ln1.gamma'), seed(5)),
      vector(p('ln1.beta'), D, seed(6), 0.05),
      matrix(p('q.weight'), D, D, seed(7)),
      vector(p('q.bias'), D, seed(8), 0.02),
      matrix(p('k.weight'), D, D, seed(9)),
      vector(p('k.bias'), D, seed(10), 0.02),
      matrix(p('v.weight'), D, D, seed(11)),
      vector(p('v.bias'), D, seed(12), 0.02),
      scalar(p('attention.scale'), 1 / Math.sqrt(D / heads)),
      matrix(p('o.weight'), D, D, seed(13), true),
      vector(p('o.bias'), D, seed(14), 0.02, true),
      gamma(p('ln2.gamma'), seed(15)),
      vector(p('ln2.beta'), D, seed(16), 0.05),
      matrix(p('fc1.weight'), D, FF, seed(17)),
      vector(p('fc1.bias'), FF, seed(18), 0.02),
      scalar(p('gelu.sqrt2'), Math.SQRT2),
      scalar(p('gelu.one'), 1),
      scalar(p('gelu.half'), 0.5),
      matrix(p('fc2.weight'), FF, D, seed(19), true),
      vector(p('fc2.bias'), D, seed(20), 0.02, true),
    );
    node.push(
      n('LayerNormalization', [xIn, p('ln1.gamma'), p('ln1.beta')], [h1], p('ln1'), [intAttr('axis', -1)]),
      n('MatMul', [h1, p('q.weight')], [p('q.mm')], p('q')),
      n('Add', [p('q.mm'), p('q.bias')], [p('q.out')], p('q.add')),
      n('MatMul', [h1, p('k.weight')], [p('k.mm')], p('k')),
      n('Add', [p('k.mm'), p('k.bias')], [p('k.out')], p('k.add')),
      n('MatMul', [h1, p('v.weight')], [p('v.mm')], p('v')),
      n('Add', [p('v.mm'), p('v.bias')], [p('v.out')], p('v.add')),
    );
    if (heads === 1) {
      node.push(
        n('Transpose', [p('k.out')], [p('k.t')], p('k.transpose'), [ints('perm', [0, 2, 1])]),
        n('MatMul', [p('q.out'), p('k.t')], [p('scores')], p('scores')),
        n('Mul', [p('scores'), p('attention.scale')], [p('scores.scaled')], p('scale')),
        n('Softmax', [p('scores.scaled')], [p('probs')], p('softmax'), [intAttr('axis', -1)]),
        n('MatMul', [p('probs'), p('v.out')], [p('context')], p('context')),
      );
    } else {
      // [batch, tokens, D] → [batch, heads, tokens, D/heads] (keys as [batch, heads, D/heads, tokens]), and back.
      const split = (x: string, perm: number[]) => [
        n('Reshape', [p(`${x}.out`), 'heads.shape'], [p(`${x}.heads`)], p(`${x}.split`)),
        n('Transpose', [p(`${x}.heads`)], [p(`${x}.t`)], p(`${x}.transpose`), [ints('perm', perm)]),
      ];
      node.push(
        ...split('q', [0, 2, 1, 3]),
        ...split('k', [0, 2, 3, 1]),
        ...split('v', [0, 2, 1, 3]),
        n('MatMul', [p('q.t'), p('k.t')], [p('scores')], p('scores')),
        n('Mul', [p('scores'), p('attention.scale')], [p('scores.scaled')], p('scale')),
        n('Softmax', [p('scores.scaled')], [p('probs')], p('softmax'), [intAttr('axis', -1)]),
        n('MatMul', [p('probs'), p('v.t')], [p('context.heads')], p('context.heads')),
        n('Transpose', [p('context.heads')], [p('context.t')], p('context.transpose'), [ints('perm', [0, 2, 1, 3])]),
        n('Reshape', [p('context.t'), 'merge.shape'], [p('context')], p('context')),
      );
    }
    node.push(
      n('MatMul', [p('context'), p('o.weight')], [p('o.mm')], p('o')),
      n('Add', [p('o.mm'), p('o.bias')], [p('o.out')], p('o.add')),
      n('Add', [xIn, p('o.out')], [xMid], p('residual1')),
      n('LayerNormalization', [xMid, p('ln2.gamma'), p('ln2.beta')], [h2], p('ln2'), [intAttr('axis', -1)]),
      n('MatMul', [h2, p('fc1.weight')], [p('fc1.mm')], p('fc1')),
      n('Add', [p('fc1.mm'), p('fc1.bias')], [p('fc1.out')], p('fc1.add')),
      n('Div', [p('fc1.out'), p('gelu.sqrt2')], [p('gelu.div')], p('gelu.div')),
      n('Erf', [p('gelu.div')], [p('gelu.erf')], p('gelu.erf')),
      n('Add', [p('gelu.erf'), p('gelu.one')], [p('gelu.add')], p('gelu.add')),
      n('Mul', [p('fc1.out'), p('gelu.add')], [p('gelu.mul')], p('gelu.mul')),
      n('Mul', [p('gelu.mul'), p('gelu.half')], [p('gelu.out')], p('gelu.half')),
      n('MatMul', [p('gelu.out'), p('fc2.weight')], [p('fc2.mm')], p('fc2')),
      n('Add', [p('fc2.mm'), p('fc2.bias')], [p('fc2.out')], p('fc2.add')),
      n('Add', [xMid, p('fc2.out')], [xOut], p('residual2')),
    );
  }
  initializer.push(
    ...tail,
    floatTensor('classifier.weight', [D, labels.length], head),
    vector('classifier.bias', labels.length, 21, 0.02),
  );
  node.push(
    n('ReduceMean', [`x${2 * layers}`], ['pooled'], 'pool', [ints('axes', [1]), intAttr('keepdims', 0)]),
    n('MatMul', ['pooled', 'classifier.weight'], ['classifier.mm'], 'classifier'),
    n('Add', ['classifier.mm', 'classifier.bias'], ['logits'], 'classifier.add'),
  );

  const graph: onnx.IGraphProto = {
    name: 'tiny_vit',
    input: [info('pixel_values', [batch, { dimValue: 3 }, { dimValue: IMAGE }, { dimValue: IMAGE }])],
    output: [info('logits', [batch, { dimValue: labels.length }])],
    initializer,
    node,
  };
  return serializeModel(
    onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'webq-tests',
      opsetImport: [{ domain: '', version: 17 }],
      graph,
    }),
  );
}
