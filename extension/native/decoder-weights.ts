/**
 * What webq's own decode engine (native/decoder.ts) needs from a prepared text-generation graph: the quantized
 * projections of every layer as MatMulNBits bytes (the same bytes onnxruntime runs: nothing is quantized twice),
 * their biases, the RMSNorm weights (Qwen3's per-head q/k norms too), the embedding table (fp32/fp16 Gather or
 * GatherBlockQuantized), the output head and the rotary tables. Read from the graph's structure and from the names
 * every exporter keeps (the projections' node or output names carry `layers.N.self_attn.q_proj`, the norms'
 * initializers `layers.N.input_layernorm.weight`, `layers.N.self_attn.q_norm.weight`), never from a table of known
 * models.
 *
 * A graph this reader cannot map onto the Llama/Qwen2/Qwen3 decoder (fused QKV, fp32 projections, q/k norms on some
 * layers only, interleaved rotary, ...) gives a `NotNative` with the reason, and the engine runs it on onnxruntime
 * instead.
 */
import type { QuantizedWeight } from '../../kernels/layout';
import { readCode } from '../quant/pack';
import { dataError } from '../shared/errors';
import { attribute, intAttribute, type ModelProto, type NodeProto } from '../onnx/model';
import { DataType, dimsOf, isExternal, readFloats } from '../onnx/tensor';
import { matMulNBitsShape, matMulNBitsWeight } from '../onnx/nodes';
import { indexModel, type ModelIndex } from '../onnx/weights';
import type { DecoderConfig } from '../tasks/generation/model-config';

export interface NativeLinear {
  w: QuantizedWeight;
  bias?: Float32Array;
}

export interface NativeLayer {
  inputNorm: Float32Array;
  postNorm: Float32Array;
  q: NativeLinear;
  k: NativeLinear;
  v: NativeLinear;
  o: NativeLinear;
  gate: NativeLinear;
  up: NativeLinear;
  down: NativeLinear;
  /** Qwen3: RMSNorm weights [headDim] for each head of q and of k, after the projection and before rotary. */
  qNorm?: Float32Array;
  kNorm?: Float32Array;
}

/** The output head: a quantized projection, or fp32 rows [vocab, hidden] (a tied or float head). */
export type NativeHead = { kind: 'quantized'; linear: NativeLinear } | { kind: 'rows'; rows: Float32Array };

export interface DecoderWeights {
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  /** Width of the logits (the head's rows; may exceed the tokenizer's vocabulary). */
  vocab: number;
  eps: number;
  layers: NativeLayer[];
  finalNorm: Float32Array;
  /** The embedding of one id, as the graph's Gather / GatherBlockQuantized gives it. */
  embed(id: number): Float32Array;
  head: NativeHead;
  /** Rotary tables [positions, headDim / 2]. */
  rotary: { cos: Float32Array; sin: Float32Array; positions: number };
}

export interface NotNative {
  notNative: string;
}

export function isNotNative<T extends object>(x: T | NotNative): x is NotNative {
  return 'notNative' in x;
}

/** Extra fields of config.json the decoder needs besides DecoderConfig. */
export interface NativeConfig {
  hiddenSize: number;
  intermediateSize: number;
  rmsEps: number;
  ropeTheta: number;
  ropeScaling?: Readonly<Record<string, unknown>> | null;
}

/** The NativeConfig fields of a config.json (untrusted: each checked, a DataError naming the field). */
export function nativeConfig(config: Readonly<Record<string, unknown>>): NativeConfig {
  const num = (field: string, fallback?: number): number => {
    const v = config[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw dataError(`the model's config.json ${field} must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  const int = (field: string): number => {
    const v = num(field);
    if (!Number.isInteger(v) || v > 1 << 20)
      throw dataError(`the model's config.json ${field} must be an integer up to 2^20, got ${v}`);
    return v;
  };
  const scaling = config.rope_scaling;
  return {
    hiddenSize: int('hidden_size'),
    intermediateSize: int('intermediate_size'),
    rmsEps: num('rms_norm_eps', 1e-6),
    ropeTheta: num('rope_theta', 10000),
    ropeScaling: scaling && typeof scaling === 'object' ? (scaling as Record<string, unknown>) : null,
  };
}

const PROJECTION =
  /layers[._/](\d+)[./](?:self_attn|attn)[./](q_proj|k_proj|v_proj|o_proj)|layers[._/](\d+)[./]mlp[./](gate_proj|up_proj|down_proj)/;
const LAYER_NORM = /layers[._](\d+)[._](input_layernorm|post_attention_layernorm)[._]weight$/;
const QK_NORM = /layers[._](\d+)[._](?:self_attn|attn)[._](q_norm|k_norm)[._]weight$/;
/**
 * Any weight named for a q/k norm (not the norm's other constants, e.g. its eps): one QK_NORM does not place must
 * not be dropped silently, which would run the model without it.
 */
const QK_NORM_ANY = /(^|[^a-z])[qk]_norm[^a-z].*weight$/;
const FINAL_NORM = /(^|[./])norm[._]weight$/;
type ProjectionName = 'q_proj' | 'k_proj' | 'v_proj' | 'o_proj' | 'gate_proj' | 'up_proj' | 'down_proj';
const FIELD: Record<ProjectionName, keyof NativeLayer> = {
  q_proj: 'q',
  k_proj: 'k',
  v_proj: 'v',
  o_proj: 'o',
  gate_proj: 'gate',
  up_proj: 'up',
  down_proj: 'down',
};

class Unsupported extends Error {}
const unsupported = (why: string): never => {
  throw new Unsupported(why);
};

/** The decoder's weights from a prepared graph, or why the native engine cannot run it. */
export function readDecoderWeights(
  model: ModelProto,
  config: DecoderConfig,
  extra: NativeConfig,
): DecoderWeights | NotNative {
  try {
    return read(model, config, extra);
  } catch (err) {
    if (err instanceof Unsupported) return { notNative: err.message };
    throw err;
  }
}

function read(model: ModelProto, config: DecoderConfig, extra: NativeConfig): DecoderWeights {
  const graph = model.graph!;
  if ((graph.input ?? []).some((i) => i.type?.tensorType?.shape?.dim?.[0]?.dimValue === 0)) unsupported('batch 0');
  const ix = indexModel(model);
  const { layers: count, heads, kvHeads, headDim } = config;
  const hidden = extra.hiddenSize;
  const intermediate = extra.intermediateSize;
  const floats = (name: string): Float32Array => {
    const w = ix.constants.get(name);
    if (!w) return unsupported(`${name} is not a constant`);
    if (isExternal(w.tensor)) return unsupported(`${name} is in external data the native engine does not read`);
    return readFloats(w.tensor);
  };
  const raw = (name: string): Uint8Array => {
    const w = ix.constants.get(name)?.tensor;
    if (!w || w.dataType !== DataType.UINT8 || !w.rawData) return unsupported(`${name} is not a uint8 constant`);
    return Uint8Array.from(w.rawData);
  };

  // Projections: every MatMulNBits named for a layer's q/k/v/o/gate/up/down.
  const partial: Partial<NativeLayer>[] = Array.from({ length: count }, () => ({}));
  for (const node of graph.node ?? []) {
    const text = [node.name, ...(node.output ?? []), node.input?.[1]].join(' ');
    const m = PROJECTION.exec(text);
    if (!m) continue;
    if (node.opType === 'MatMul' || node.opType === 'Gemm')
      unsupported(`${node.name ?? node.opType}: the native engine runs 2-, 4- and 8-bit weights (MatMulNBits)`);
    if (node.opType !== 'MatMulNBits') continue;
    const layer = Number(m[1] ?? m[3]);
    const which = (m[2] ?? m[4]) as ProjectionName;
    if (!(layer < count)) unsupported(`${node.name}: layer ${layer} past num_hidden_layers ${count}`);
    const field = FIELD[which];
    if (partial[layer]![field]) unsupported(`two ${which} projections in layer ${layer}`);
    (partial[layer] as Record<string, NativeLinear>)[field] = {
      w: matMulNBits(node, raw, floats),
      bias: biasOf(ix, node, floats),
    };
  }
  for (const t of graph.initializer ?? []) {
    const m = LAYER_NORM.exec(t.name ?? '');
    if (!m) continue;
    const layer = Number(m[1]);
    if (!(layer < count)) continue;
    const field = m[2] === 'input_layernorm' ? 'inputNorm' : 'postNorm';
    (partial[layer] as Record<string, Float32Array>)[field] = floats(t.name!);
  }
  for (const t of graph.initializer ?? []) {
    const name = t.name ?? '';
    const m = QK_NORM.exec(name);
    if (!m) {
      if (QK_NORM_ANY.test(name)) unsupported(`${name}: a q/k norm weight the native engine cannot place`);
      continue;
    }
    const layer = Number(m[1]);
    if (!(layer < count)) unsupported(`${name}: layer ${layer} past num_hidden_layers ${count}`);
    const field = m[2] === 'q_norm' ? 'qNorm' : 'kNorm';
    if (partial[layer]![field]) unsupported(`two ${m[2]} weights in layer ${layer}`);
    partial[layer]![field] = floats(name);
  }
  // Qwen3 normalizes q and k in every layer; a graph with some of them is not a model this engine knows.
  const withQkNorm = partial.filter((p) => p.qNorm || p.kNorm).length;
  if (withQkNorm > 0 && (withQkNorm < count || partial.some((p) => !p.qNorm || !p.kNorm)))
    unsupported('q/k norm weights on some layers or of q or k only');

  const shapes: Record<Exclude<keyof NativeLayer, 'qNorm' | 'kNorm'>, [number, number] | number> = {
    q: [hidden, heads * headDim],
    k: [hidden, kvHeads * headDim],
    v: [hidden, kvHeads * headDim],
    o: [heads * headDim, hidden],
    gate: [hidden, intermediate],
    up: [hidden, intermediate],
    down: [intermediate, hidden],
    inputNorm: hidden,
    postNorm: hidden,
  };
  const layers = partial.map((p, i) => {
    for (const field of ['qNorm', 'kNorm'] as const)
      if (p[field] && p[field].length !== headDim)
        unsupported(`layer ${i} ${field} has ${p[field].length} values, not head_dim ${headDim}`);
    for (const [field, shape] of Object.entries(shapes) as [keyof typeof shapes, [number, number] | number][]) {
      const got = p[field];
      if (!got) return unsupported(`layer ${i} has no ${field} weight the native engine recognises`);
      if (typeof shape === 'number') {
        if ((got as Float32Array).length !== shape) unsupported(`layer ${i} ${field} has the wrong size`);
      } else {
        const { w, bias } = got as NativeLinear;
        if (w.K !== shape[0] || w.N !== shape[1])
          unsupported(`layer ${i} ${field} is ${w.K}×${w.N}, config.json implies ${shape[0]}×${shape[1]}`);
        if (bias && bias.length !== w.N) unsupported(`layer ${i} ${field} bias has ${bias.length} values`);
      }
    }
    return p as NativeLayer;
  });

  const finalName = (graph.initializer ?? []).find(
    (t) => FINAL_NORM.test(t.name ?? '') && !LAYER_NORM.test(t.name ?? '') && !/layers[._]/.test(t.name ?? ''),
  )?.name;
  if (!finalName) unsupported('no final norm weight (…norm.weight)');
  const finalNorm = floats(finalName!);
  if (finalNorm.length !== hidden) unsupported('the final norm has the wrong size');

  const embed = embedding(ix, graph.node ?? [], hidden, floats, raw);
  const head = outputHead(ix, graph.node ?? [], hidden, floats, raw);
  const vocab = head.kind === 'rows' ? head.rows.length / hidden : head.linear.w.N;
  return {
    hidden,
    heads,
    kvHeads,
    headDim,
    intermediate,
    vocab,
    eps: extra.rmsEps,
    layers,
    finalNorm,
    embed,
    head,
    rotary: rotaryTables(ix, graph.node ?? [], graph.initializer ?? [], headDim, config, extra),
  };
}

function matMulNBits(
  node: NodeProto,
  raw: (name: string) => Uint8Array,
  floats: (name: string) => Float32Array,
): QuantizedWeight {
  const shape = matMulNBitsShape(node);
  if (typeof shape === 'string') return unsupported(`${node.name}: ${shape}`);
  if ((node.input ?? []).slice(4).some((i) => i)) return unsupported(`${node.name}: g_idx or bias inputs`);
  if (attribute(node, 'accuracy_level') && intAttribute(node, 'accuracy_level', 0) === 4)
    return unsupported(`${node.name}: accuracy_level 4 computes in int8, which the native engine does not`);
  const data = raw(node.input![1]!);
  const scales = floats(node.input![2]!);
  const zp = node.input?.[3] ? raw(node.input[3]) : undefined;
  const weight = matMulNBitsWeight(shape, data, scales, zp);
  return typeof weight === 'string' ? unsupported(`${node.name}: ${weight}`) : weight;
}

/** A constant added right after the projection (Qwen2's q/k/v biases). */
function biasOf(ix: ModelIndex, node: NodeProto, floats: (name: string) => Float32Array): Float32Array | undefined {
  const uses = ix.uses.get(node.output?.[0] ?? '') ?? [];
  if (uses.length !== 1 || uses[0]!.node.opType !== 'Add') return undefined;
  const other = uses[0]!.node.input?.[1 - uses[0]!.index];
  if (!other || !ix.constants.has(other)) return undefined;
  // The add's output replaces the projection's as what the rest of the graph reads.
  return floats(other);
}

function embedding(
  ix: ModelIndex,
  nodes: readonly NodeProto[],
  hidden: number,
  floats: (name: string) => Float32Array,
  raw: (name: string) => Uint8Array,
): (id: number) => Float32Array {
  const node = (ix.uses.get('input_ids') ?? []).map((u) => u.node).find((n) => n.input?.[1] === 'input_ids');
  if (!node || !nodes.includes(node)) return unsupported('input_ids feeds no Gather');
  if (node.opType === 'Gather') {
    const table = floats(node.input![0]!);
    if (table.length % hidden !== 0) return unsupported('the embedding table is not [vocab, hidden]');
    return (id) => table.slice(id * hidden, (id + 1) * hidden);
  }
  if (node.opType !== 'GatherBlockQuantized') return unsupported(`input_ids feeds a ${node.opType ?? ''}`);
  const bits = intAttribute(node, 'bits', 4);
  const blockSize = intAttribute(node, 'block_size', 128);
  if (intAttribute(node, 'gather_axis', 0) !== 0 || intAttribute(node, 'quantize_axis', 1) !== 1)
    return unsupported('GatherBlockQuantized on other axes');
  if ((bits !== 4 && bits !== 8) || hidden % blockSize !== 0) return unsupported(`GatherBlockQuantized ${bits}-bit`);
  const data = raw(node.input![0]!);
  const scales = floats(node.input![2]!);
  const zp = node.input?.[3] ? raw(node.input[3]) : undefined;
  const rowBytes = (hidden * bits) / 8;
  const blocks = hidden / blockSize;
  const zpRow = Math.ceil((blocks * bits) / 8);
  const mid = 1 << (bits - 1);
  return (id) => {
    const row = new Float32Array(hidden);
    for (let d = 0; d < hidden; d++) {
      const b = Math.floor(d / blockSize);
      const z = zp ? readCode(zp, id * zpRow, b, bits) : mid;
      row[d] = (readCode(data, id * rowBytes, d, bits) - z) * scales[id * blocks + b]!;
    }
    return row;
  };
}

/** The MatMul that makes `logits`: a MatMulNBits, or a float matrix (constant, or a transposed constant table). */
function outputHead(
  ix: ModelIndex,
  nodes: readonly NodeProto[],
  hidden: number,
  floats: (name: string) => Float32Array,
  raw: (name: string) => Uint8Array,
): NativeHead {
  const node = nodes.find((n) => n.output?.includes('logits'));
  if (!node) return unsupported('no node gives logits');
  if (node.opType === 'MatMulNBits') return { kind: 'quantized', linear: { w: matMulNBits(node, raw, floats) } };
  if (node.opType !== 'MatMul') return unsupported(`logits come from a ${node.opType ?? ''}`);
  const b = node.input![1]!;
  if (ix.constants.has(b)) {
    // [hidden, vocab] → rows [vocab, hidden].
    const matrix = floats(b);
    const vocab = matrix.length / hidden;
    const rows = new Float32Array(matrix.length);
    for (let k = 0; k < hidden; k++) for (let v = 0; v < vocab; v++) rows[v * hidden + k] = matrix[k * vocab + v]!;
    return { kind: 'rows', rows };
  }
  const t = ix.producers.get(b);
  const perm = t && attribute(t, 'perm')?.ints?.map(Number);
  if (t?.opType === 'Transpose' && ix.constants.has(t.input?.[0] ?? '') && perm?.join() === '1,0') {
    const rows = floats(t.input![0]!);
    if (rows.length % hidden !== 0) return unsupported('the tied head is not [vocab, hidden]');
    return { kind: 'rows', rows };
  }
  return unsupported('the head reads a matrix the native engine does not recognise');
}

/**
 * Rotary tables [positions, headDim/2]: a GroupQueryAttention graph's own cos/sin caches; else the graph's
 * inverse frequencies (an initializer named …inv_freq), with angles in float32 as the exported graph computes them;
 * else config.json's rope_theta (with Llama 3's rope_scaling), in float64.
 */
function rotaryTables(
  ix: ModelIndex,
  nodes: readonly NodeProto[],
  initializers: readonly { name?: string | null }[],
  headDim: number,
  config: DecoderConfig,
  extra: NativeConfig,
): DecoderWeights['rotary'] {
  const half = headDim / 2;
  const gqa = nodes.find((n) => n.opType === 'GroupQueryAttention');
  if (gqa) {
    if (intAttribute(gqa, 'do_rotary', 0) !== 1 || intAttribute(gqa, 'rotary_interleaved', 0) !== 0)
      return unsupported('GroupQueryAttention without (non-interleaved) rotary');
    const cos = table(ix, gqa.input?.[7]);
    const sin = table(ix, gqa.input?.[8]);
    if (!cos || !sin || cos.length !== sin.length || cos.length % half !== 0)
      return unsupported('GroupQueryAttention rotary caches are not constants of [positions, headDim/2]');
    return { cos, sin, positions: cos.length / half };
  }
  const positions = config.contextWindow;
  const invName = initializers.find((t) => /inv_freq$/.test(t.name ?? ''))?.name;
  let angle: (p: number, j: number) => number;
  if (invName) {
    const inv = readFloats(ix.constants.get(invName)!.tensor);
    if (inv.length !== half) return unsupported(`${invName} has ${inv.length} values, not headDim/2 = ${half}`);
    angle = (p, j) => Math.fround(Math.fround(p) * inv[j]!);
  } else {
    const inv = inverseFrequencies(half, headDim, extra);
    angle = (p, j) => p * inv[j]!;
  }
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let p = 0; p < positions; p++)
    for (let j = 0; j < half; j++) {
      const a = angle(p, j);
      cos[p * half + j] = Math.cos(a);
      sin[p * half + j] = Math.sin(a);
    }
  return { cos, sin, positions };
}

/** A constant [rows, columns] float table (readFloats reads fp16 and fp32 alike), or undefined. */
function table(ix: ModelIndex, name: string | null | undefined): Float32Array | undefined {
  const t = name ? ix.constants.get(name)?.tensor : undefined;
  return t && dimsOf(t).length === 2 ? readFloats(t) : undefined;
}

/** θ^(−2j/d), with Llama 3's frequency-dependent scaling when rope_scaling says 'llama3'. */
function inverseFrequencies(half: number, headDim: number, extra: NativeConfig): Float64Array {
  const inv = Float64Array.from({ length: half }, (_, j) => extra.ropeTheta ** (-(2 * j) / headDim));
  const s = extra.ropeScaling;
  const type = s ? (s.rope_type ?? s.type) : undefined;
  if (!s || type === undefined || type === 'default') return inv;
  if (type !== 'llama3') return unsupported(`rope_scaling ${String(type)}`);
  const factor = Number(s.factor),
    low = Number(s.low_freq_factor),
    high = Number(s.high_freq_factor),
    original = Number(s.original_max_position_embeddings);
  if (![factor, low, high, original].every((x) => Number.isFinite(x) && x > 0) || high <= low)
    return unsupported('rope_scaling llama3 with missing or bad fields');
  const lowWavelength = original / low;
  const highWavelength = original / high;
  return inv.map((f) => {
    const wavelength = (2 * Math.PI) / f;
    if (wavelength < highWavelength) return f;
    if (wavelength > lowWavelength) return f / factor;
    const smooth = (original / wavelength - low) / (high - low);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}
