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
 */
import { intAttr, makeNode, onnx, serializeModel } from '../../../extension/onnx/model.ts';
import { DataType, floatTensor, rawTensor } from '../../../extension/onnx/tensor.ts';
import { mulberry32 } from '../../../extension/shared/random.ts';
import type { HubFiles } from '../node-pipeline.ts';

/** The model's labels, in logit order. The first eight are the corners of the RGB cube. */
export const VIT_LABELS = Object.freeze(['red', 'green', 'blue', 'white', 'black', 'yellow', 'cyan', 'magenta', 'tabby cat', 'goldfish'] as const);
export type VitLabel = (typeof VIT_LABELS)[number];
/** Each colour label's RGB (what a page paints to get that label). */
export const VIT_COLOURS: Readonly<Record<Exclude<VitLabel, 'tabby cat' | 'goldfish'>, readonly [number, number, number]>> = Object.freeze({
  red: [255, 0, 0], green: [0, 255, 0], blue: [0, 0, 255], white: [255, 255, 255], black: [0, 0, 0],
  yellow: [255, 255, 0], cyan: [0, 255, 255], magenta: [255, 0, 255],
});

export const VIT_HIDDEN = 64;
const IMAGE = 224, PATCH = 16, TOKENS = (IMAGE / PATCH) ** 2, D = VIT_HIDDEN, FF = 2 * D, COLOUR_GAIN = 3;

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
}

/** The hub files of the test ViT. */
export function vitHubFiles(options: VitOptions = {}): HubFiles {
  const id2label = Object.fromEntries(VIT_LABELS.map((label, i) => [String(i), label]));
  const label2id = Object.fromEntries(VIT_LABELS.map((label, i) => [label, i]));
  const config = {
    architectures: ['ViTForImageClassification'], model_type: 'vit', hidden_size: D, intermediate_size: FF, image_size: IMAGE,
    patch_size: PATCH, num_channels: 3, num_hidden_layers: 1, num_attention_heads: 1, layer_norm_eps: 1e-12, id2label, label2id,
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

function vitModel({ staticBatch }: VitOptions): Uint8Array {
  const n = makeNode;
  const ints = (name: string, values: number[]) => onnx.AttributeProto.create({ name, ints: values, type: onnx.AttributeProto.AttributeType.INTS });
  const scalar = (name: string, value: number) => floatTensor(name, [], Float32Array.of(value));
  const matrix = (name: string, rows: number, cols: number, seed: number, colourFree = false) => {
    const w = uniform(rows * cols, seed, 1 / Math.sqrt(rows));
    return floatTensor(name, [rows, cols], colourFree ? sparingColour(w, cols) : w);
  };
  const vector = (name: string, length: number, seed: number, scale: number, colourFree = false) => {
    const v = uniform(length, seed, scale);
    return floatTensor(name, [length], colourFree ? sparingColour(v, length) : v);
  };
  const gamma = (name: string, seed: number) => floatTensor(name, [D], uniform(D, seed, 0.1).map((v) => 1 + v));

  // Patch embedding: output channels 0..2 average one input channel over the patch; the rest are random.
  const patch = uniform(D * 3 * PATCH * PATCH, 1, 0.02);
  patch.fill(0, 0, 3 * 3 * PATCH * PATCH);
  for (let c = 0; c < 3; c++) patch.fill(1 / (PATCH * PATCH), (c * 3 + c) * PATCH * PATCH, (c * 3 + c + 1) * PATCH * PATCH);

  // Classifier: colour labels read channels 0..2 with their colour's sign pattern; channels 3.. are small noise.
  const head = uniform(D * VIT_LABELS.length, 2, 0.05);
  VIT_LABELS.forEach((label, j) => {
    const rgb = (VIT_COLOURS as Record<string, readonly number[]>)[label];
    for (let c = 0; c < 3; c++) head[c * VIT_LABELS.length + j] = rgb ? (rgb[c]! > 0 ? COLOUR_GAIN : -COLOUR_GAIN) : 0;
  });

  const batch = staticBatch ? { dimValue: staticBatch } : { dimParam: 'batch_size' };
  const info = (name: string, dims: ({ dimValue: number } | { dimParam: string })[]) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims } } } });

  const graph: onnx.IGraphProto = {
    name: 'tiny_vit',
    input: [info('pixel_values', [batch, { dimValue: 3 }, { dimValue: IMAGE }, { dimValue: IMAGE }])],
    output: [info('logits', [batch, { dimValue: VIT_LABELS.length }])],
    initializer: [
      floatTensor('patch.weight', [D, 3, PATCH, PATCH], patch), vector('patch.bias', D, 3, 0.02, true),
      rawTensor('tokens.shape', DataType.INT64, [3], new Uint8Array(BigInt64Array.of(0n, BigInt(D), -1n).buffer)),
      floatTensor('position', [TOKENS, D], sparingColour(uniform(TOKENS * D, 4, 0.02), D)),
      gamma('ln1.gamma', 5), vector('ln1.beta', D, 6, 0.05),
      matrix('q.weight', D, D, 7), vector('q.bias', D, 8, 0.02),
      matrix('k.weight', D, D, 9), vector('k.bias', D, 10, 0.02),
      matrix('v.weight', D, D, 11), vector('v.bias', D, 12, 0.02),
      scalar('attention.scale', 1 / Math.sqrt(D)),
      matrix('o.weight', D, D, 13, true), vector('o.bias', D, 14, 0.02, true),
      gamma('ln2.gamma', 15), vector('ln2.beta', D, 16, 0.05),
      matrix('fc1.weight', D, FF, 17), vector('fc1.bias', FF, 18, 0.02),
      scalar('gelu.sqrt2', Math.SQRT2), scalar('gelu.one', 1), scalar('gelu.half', 0.5),
      matrix('fc2.weight', FF, D, 19, true), vector('fc2.bias', D, 20, 0.02, true),
      floatTensor('classifier.weight', [D, VIT_LABELS.length], head), vector('classifier.bias', VIT_LABELS.length, 21, 0.02),
    ],
    node: [
      n('Conv', ['pixel_values', 'patch.weight', 'patch.bias'], ['patches'], 'patch_embed', [ints('kernel_shape', [PATCH, PATCH]), ints('strides', [PATCH, PATCH])]),
      n('Reshape', ['patches', 'tokens.shape'], ['patches.flat'], 'flatten'),
      n('Transpose', ['patches.flat'], ['tokens'], 'to_tokens', [ints('perm', [0, 2, 1])]),
      n('Add', ['tokens', 'position'], ['x0'], 'add_position'),
      n('LayerNormalization', ['x0', 'ln1.gamma', 'ln1.beta'], ['h1'], 'ln1', [intAttr('axis', -1)]),
      n('MatMul', ['h1', 'q.weight'], ['q.mm'], 'q'), n('Add', ['q.mm', 'q.bias'], ['q.out'], 'q.add'),
      n('MatMul', ['h1', 'k.weight'], ['k.mm'], 'k'), n('Add', ['k.mm', 'k.bias'], ['k.out'], 'k.add'),
      n('MatMul', ['h1', 'v.weight'], ['v.mm'], 'v'), n('Add', ['v.mm', 'v.bias'], ['v.out'], 'v.add'),
      n('Transpose', ['k.out'], ['k.t'], 'k.transpose', [ints('perm', [0, 2, 1])]),
      n('MatMul', ['q.out', 'k.t'], ['scores'], 'scores'), n('Mul', ['scores', 'attention.scale'], ['scores.scaled'], 'scale'),
      n('Softmax', ['scores.scaled'], ['probs'], 'softmax', [intAttr('axis', -1)]),
      n('MatMul', ['probs', 'v.out'], ['context'], 'context'),
      n('MatMul', ['context', 'o.weight'], ['o.mm'], 'o'), n('Add', ['o.mm', 'o.bias'], ['o.out'], 'o.add'),
      n('Add', ['x0', 'o.out'], ['x1'], 'residual1'),
      n('LayerNormalization', ['x1', 'ln2.gamma', 'ln2.beta'], ['h2'], 'ln2', [intAttr('axis', -1)]),
      n('MatMul', ['h2', 'fc1.weight'], ['fc1.mm'], 'fc1'), n('Add', ['fc1.mm', 'fc1.bias'], ['fc1.out'], 'fc1.add'),
      n('Div', ['fc1.out', 'gelu.sqrt2'], ['gelu.div'], 'gelu.div'), n('Erf', ['gelu.div'], ['gelu.erf'], 'gelu.erf'),
      n('Add', ['gelu.erf', 'gelu.one'], ['gelu.add'], 'gelu.add'), n('Mul', ['fc1.out', 'gelu.add'], ['gelu.mul'], 'gelu.mul'),
      n('Mul', ['gelu.mul', 'gelu.half'], ['gelu.out'], 'gelu.half'),
      n('MatMul', ['gelu.out', 'fc2.weight'], ['fc2.mm'], 'fc2'), n('Add', ['fc2.mm', 'fc2.bias'], ['fc2.out'], 'fc2.add'),
      n('Add', ['x1', 'fc2.out'], ['x2'], 'residual2'),
      n('ReduceMean', ['x2'], ['pooled'], 'pool', [ints('axes', [1]), intAttr('keepdims', 0)]),
      n('MatMul', ['pooled', 'classifier.weight'], ['classifier.mm'], 'classifier'),
      n('Add', ['classifier.mm', 'classifier.bias'], ['logits'], 'classifier.add'),
    ],
  };
  return serializeModel(onnx.ModelProto.create({
    irVersion: 8, producerName: 'webq-tests', opsetImport: [{ domain: '', version: 17 }], graph,
  }));
}
