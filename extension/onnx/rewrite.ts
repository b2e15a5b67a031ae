/**
 * Rewrites a float ONNX model to the precisions a policy asks for (SPEC §2, §7):
 *   MatMul B / Gemm B  2, 4, 8 → com.microsoft MatMulNBits (Gemm: alpha folded into B, transA as a
 *                      Transpose, beta·C as an Add after it); 16 → fp16 weight + Cast
 *   Conv W             ≤ 8 → 8-bit per output channel through DequantizeLinear (int8 symmetric, uint8
 *                      asymmetric; ai.onnx with axis from opset 13, com.microsoft's below); 16 → fp16 + Cast
 *   Gather table       4, 8 → com.microsoft GatherBlockQuantized (2 is stored at 4); 16 → fp16 + Cast
 *   norm weights       fp32 under skipLayerNorm, else 8-bit DequantizeLinear (per tensor) or fp16
 *   biases, the rest   fp32
 * Weights already quantized (MatMulNBits, QDQ, MatMulInteger, ...) are left as they are. Replaced
 * weights that nothing uses any more are removed. The model is changed in place (a large model
 * must not be held twice in the engine host); the report is read back from the rewritten model.
 *
 * Two phases, so that another quantizer (webq's GPU kernels, extension/host/gpu-quantize.ts) can do the
 * MatMul/Gemm weights: `quantizationRequests` lists what the policy will quantize to MatMulNBits (a dry run of
 * the same visit, so the list and the rewrite agree), and `rewriteModel(model, policy, { quantized })` uses a
 * precomputed weight wherever one is given under a request's key; everything else is quantized here as before.
 *
 * `rewriteModelStepwise` is the same rewrite with an await around each node, for weights that are not in memory
 * (external data read from IndexedDB, prepare.ts): the caller loads what a node reads before it is visited, and
 * lets go of each weight the rewrite has replaced once no node reads it any more.
 */
import { notSupportedError } from '../quant/errors';
import { toFloat16 } from '../quant/fp16';
import { quantize, quantizeRows, zeroPointOf } from '../quant/quantize';
import type { Bits, QuantizedWeight, QuantizeOptions } from '../quant/types';
import {
  ensureOpset,
  floatAttribute,
  forEachGraph,
  type GraphProto,
  intAttr,
  intAttribute,
  makeNode,
  MS_DOMAIN,
  type NodeProto,
  onnx,
  opsetVersion,
} from './model';
import { castNode, gatherBlockQuantized, matMulNBits } from './nodes';
import { type Precision, type PrecisionPolicy, requestedPrecision } from './policy';
import { type ModelReport, reportWeights } from './report';
import { attentionProjections, isEmbeddingGather, outputHeads, roleOf, type WeightRole } from './roles';
import {
  DataType,
  dimsOf,
  elementCount,
  floatTensor,
  float16Tensor,
  isExternal,
  rawTensor,
  readFloats,
} from './tensor';
import { type ConstantWeight, indexModel, isConstant, type ModelIndex } from './weights';

export interface RewriteNote {
  name: string;
  op: string;
  message: string;
}

export interface RewriteResult {
  report: ModelReport;
  /** Weights left as they were or stored at another precision than asked, and why. */
  notes: RewriteNote[];
}

/** One MatMul/Gemm weight the policy quantizes to MatMulNBits: B[K, N] with these options. */
export interface QuantizationRequest {
  /** Identifies the weight and what is quantized of it (a Gemm's alpha and transB change the values). */
  key: string;
  /** The weight's name in the model. */
  name: string;
  op: 'MatMul' | 'Gemm';
  K: number;
  N: number;
  options: QuantizeOptions;
  /** B[K, N] row-major fp32, as the TypeScript quantizer would read it (Gemm: alpha folded in, transB undone). */
  values(): Float32Array;
}

export interface RewriteInputs {
  /** Weights quantized elsewhere, by QuantizationRequest.key; each must match its request's K, N and options. */
  quantized?: ReadonlyMap<string, QuantizedWeight>;
}

export function rewriteModel(
  model: onnx.ModelProto,
  policy: PrecisionPolicy,
  inputs: RewriteInputs = {},
): RewriteResult {
  const rewriter = new Rewriter(model, policy, inputs.quantized ?? null, null);
  rewriter.run();
  return { report: reportWeights(model, rewriter.roles), notes: rewriter.notes };
}

/** What a stepwise rewrite awaits: the caller's loading and letting go of weights around each node. */
export interface RewriteSteps {
  /** Before `node` is visited: make every weight it reads available (raw_data in memory). */
  before(node: NodeProto): Promise<void>;
  /** After: `dropped(name)` is true for a weight the rewrite has replaced and nothing reads any more. */
  after(node: NodeProto, dropped: (name: string) => boolean): void;
  /** Once every node is visited and replaced weights are gone, before the report: load the weights kept as they are. */
  end(): Promise<void>;
}

/** `rewriteModel`, node by node in the same order, awaiting the caller's steps around each. */
export async function rewriteModelStepwise(
  model: onnx.ModelProto,
  policy: PrecisionPolicy,
  steps: RewriteSteps,
  inputs: RewriteInputs = {},
): Promise<RewriteResult> {
  const rewriter = new Rewriter(model, policy, inputs.quantized ?? null, null);
  const dropped = (name: string) => rewriter.dropped(name);
  for (const node of rewriter.order()) {
    await steps.before(node);
    rewriter.visit(node);
    steps.after(node, dropped);
  }
  rewriter.finish();
  await steps.end();
  return { report: reportWeights(model, rewriter.roles), notes: rewriter.notes };
}

/**
 * The MatMul/Gemm weights `rewriteModel(model, policy)` will quantize to MatMulNBits, once per key, without
 * changing the model: the same visit in a dry run (roles, precisions and every check as in the rewrite).
 */
export function quantizationRequests(model: onnx.ModelProto, policy: PrecisionPolicy): QuantizationRequest[] {
  const requests = new Map<string, QuantizationRequest>();
  new Rewriter(model, policy, null, requests).visitAll();
  return [...requests.values()];
}

class Rewriter {
  readonly notes: RewriteNote[] = [];
  /** Weights left as stored under `dequantizeLinear: false`, by the op that reads them. */
  private readonly keptFromDequantizeLinear = new Map<string, Set<string>>();
  readonly roles = new Map<string, WeightRole>();
  private readonly ix: ModelIndex;
  private readonly attention: Set<NodeProto>;
  private readonly heads: Set<NodeProto>;
  private readonly root: GraphProto;
  private readonly names = new Set<string>();
  private readonly prefixes = new Set<string>();
  /** Nodes replaced by the nodes that implement them on quantized weights. */
  private readonly replaced = new Map<NodeProto, NodeProto[]>();
  /** Weights whose uses were redirected: candidates for removal. */
  private readonly redirected = new Set<string>();
  /** fp16+Cast / DequantizeLinear outputs already made for a weight (shared weights expand once). */
  private readonly expanded = new Map<string, string>();

  constructor(
    private readonly model: onnx.ModelProto,
    private readonly policy: PrecisionPolicy,
    private readonly precomputed: ReadonlyMap<string, QuantizedWeight> | null,
    /** Dry run: MatMul/Gemm weights are listed here, nothing is changed. */
    private readonly requests: Map<string, QuantizationRequest> | null,
  ) {
    this.root = model.graph!;
    this.ix = indexModel(model);
    this.attention = attentionProjections(this.ix);
    this.heads = outputHeads(
      this.ix,
      (this.root.output ?? []).map((o) => o.name ?? ''),
    );
    forEachGraph(this.root, (g) => {
      for (const t of g.initializer ?? []) if (t.name) this.names.add(t.name);
      for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])])
        if (v.name) this.names.add(v.name);
      for (const n of g.node ?? []) {
        for (const o of n.output ?? []) this.names.add(o);
        if (n.name) this.names.add(n.name);
      }
    });
  }

  /** Every node, in the order the rewrite visits them (graph by graph, each graph's nodes as listed). */
  order(): NodeProto[] {
    const nodes: NodeProto[] = [];
    forEachGraph(this.root, (graph) => nodes.push(...(graph.node ?? [])));
    return nodes;
  }

  visitAll(): void {
    for (const node of this.order()) this.visit(node);
  }

  run(): void {
    this.visitAll();
    this.finish();
  }

  /** Puts the replacing nodes in place of the replaced and drops the weights nothing reads any more. */
  finish(): void {
    forEachGraph(this.root, (graph) => {
      graph.node = (graph.node ?? []).flatMap((n) => this.replaced.get(n) ?? [n]);
    });
    this.removeUnused();
    // One note for them all (a CNN has dozens), per op.
    for (const [op, names] of this.keptFromDequantizeLinear) {
      const count = names.size;
      this.notes.push({
        name: `${count} weight${count === 1 ? '' : 's'}`,
        op,
        message:
          'kept as stored: on WebNN only MatMul/Gemm weights are quantized (a DequantizeLinear before a Conv stalls ' +
          "Chromium's WebNN graph build, one before other ops can fail the session)",
      });
    }
  }

  /** Whether `finish` will drop this weight: it was replaced for some use, and no node or graph output reads it now. */
  dropped(name: string): boolean {
    if (!this.redirected.has(name)) return false;
    if (!this.outputs) {
      const outputs = new Set<string>();
      forEachGraph(this.root, (g) => {
        for (const o of g.output ?? []) outputs.add(o.name ?? '');
      });
      this.outputs = outputs;
    }
    if (this.outputs.has(name)) return false;
    for (const use of this.ix.uses.get(name) ?? []) {
      const nodes = this.replaced.get(use.node) ?? [use.node];
      if (nodes.some((n) => n.input?.includes(name))) return false;
    }
    return true;
  }
  private outputs: Set<string> | undefined;

  visit(node: NodeProto): void {
    if ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx') return;
    (node.input ?? []).forEach((name, i) => {
      const w = this.ix.constants.get(name);
      // A weight read by several nodes keeps the most specific role it was seen with.
      if (w && isFloat(w) && (this.roles.get(name) ?? 'other') === 'other') {
        this.roles.set(name, roleOf(this.ix, node, i, this.attention, this.heads));
      }
    });
    switch (node.opType) {
      case 'MatMul':
        return this.matMul(node);
      case 'Gemm':
        return this.gemm(node);
    }
    if (this.requests) return; // a dry run lists MatMul/Gemm weights only
    switch (node.opType) {
      case 'Conv':
        return this.conv(node);
      case 'Gather':
        if (isEmbeddingGather(this.ix, node)) return this.gather(node);
    }
    (node.input ?? []).forEach((name, i) => {
      const w = this.ix.constants.get(name);
      if (!w || !isFloat(w) || isExternal(w.tensor)) return;
      const role = this.roles.get(name);
      const dims = dimsOf(w.tensor);
      if (role === 'norm' && !this.policy.skipLayerNorm && dims.length > 0) this.norm(node, i, w);
      // Matrices that no quantized op reads (LSTM weights sliced into gates, ...) follow `bits` too.
      if (role === 'other' && dims.length >= 2 && elementCount(w.tensor) >= 1024) this.otherMatrix(node, i, w);
    });
  }

  /** The weight at `node.input[index]` if it is a float constant that can be rewritten, with a note otherwise. */
  private weightAt(node: NodeProto, index: number): ConstantWeight | undefined {
    const w = this.ix.constants.get(node.input?.[index] ?? '');
    if (!w || !isFloat(w)) return undefined;
    if (isExternal(w.tensor)) {
      this.note(w.name, node, 'external data is not read by the rewriter; kept as is');
      return undefined;
    }
    return w;
  }

  private precisionOf(name: string): Precision {
    return requestedPrecision(this.roles.get(name) ?? 'other', this.policy);
  }

  private matMul(node: NodeProto): void {
    const w = this.weightAt(node, 1);
    if (!w || isConstant(this.ix, node.input?.[0])) return;
    const dims = dimsOf(w.tensor);
    const precision = this.precisionOf(w.name);
    if (precision === 32) return;
    if (dims.length !== 2) {
      this.note(w.name, node, `MatMul weight of rank ${dims.length}: MatMulNBits needs B[K, N]; kept as is`);
      return;
    }
    if (precision === 16) return this.toFloat16(node, 1, w);
    if (!this.matMulNBitsType(w, node)) return;
    const [K, N] = dims as [number, number];
    const options = this.quantizeOptions(precision);
    const key = requestKey(w.name, 'MatMul', K, N, options, 1, 0);
    if (this.requests) {
      this.request({ key, name: w.name, op: 'MatMul', K, N, options, values: () => readFloats(w.tensor) });
      return;
    }
    const q = this.precomputedFor(key, K, N, options) ?? quantize(readFloats(w.tensor), K, N, options);
    const { node: replacement, tensors } = matMulNBits(
      q,
      node.input![0]!,
      node.output![0]!,
      this.unique(w.name),
      w.tensor.dataType!,
    );
    this.addTensors(tensors, w.name);
    this.replace(node, [replacement], w.name);
  }

  private gemm(node: NodeProto): void {
    const w = this.weightAt(node, 1);
    if (!w || isConstant(this.ix, node.input?.[0])) return;
    const precision = this.precisionOf(w.name);
    if (precision === 32) return;
    if (precision === 16) return this.toFloat16(node, 1, w);
    if (!this.matMulNBitsType(w, node)) return;
    const transA = intAttribute(node, 'transA', 0),
      transB = intAttribute(node, 'transB', 0);
    const alpha = floatAttribute(node, 'alpha', 1),
      beta = floatAttribute(node, 'beta', 1);
    const [d0, d1] = dimsOf(w.tensor) as [number, number];
    const options = this.quantizeOptions(precision);
    const [K, N] = transB ? [d1, d0] : [d0, d1];
    const key = requestKey(w.name, 'Gemm', K, N, options, alpha, transB);
    const scaled = (): Float32Array => {
      const values = readFloats(w.tensor);
      return alpha !== 1 ? values.map((v) => v * alpha) : values;
    };
    if (this.requests) {
      this.request({
        key,
        name: w.name,
        op: 'Gemm',
        K,
        N,
        options,
        values: () => (transB ? transpose(scaled(), N, K) : scaled()),
      });
      return;
    }
    // transB = 1 stores B as [N, K], which is already one output channel per row.
    const q =
      this.precomputedFor(key, K, N, options) ??
      (transB ? quantizeRows(scaled(), K, N, options) : quantize(scaled(), K, N, options));
    const base = this.unique(w.name);
    const nodes: NodeProto[] = [];
    let a = node.input![0]!;
    if (transA) {
      const transposed = `${base}_At`;
      nodes.push(
        makeNode('Transpose', [a], [transposed], `${transposed}_Transpose`, [
          onnx.AttributeProto.create({ name: 'perm', ints: [1, 0], type: onnx.AttributeProto.AttributeType.INTS }),
        ]),
      );
      a = transposed;
    }
    const c = node.input?.[2];
    const output = node.output![0]!;
    const product = c && beta !== 0 ? `${base}_AB` : output;
    const { node: mm, tensors } = matMulNBits(q, a, product, base, w.tensor.dataType!);
    this.addTensors(tensors, w.name);
    nodes.push(mm);
    if (c && beta !== 0) {
      let bias = c;
      if (beta !== 1) {
        const betaName = `${base}_beta`;
        this.root.initializer!.push(floatTensor(betaName, [], Float32Array.of(beta)));
        bias = `${base}_betaC`;
        nodes.push(makeNode('Mul', [c, betaName], [bias], `${bias}_Mul`));
      }
      nodes.push(makeNode('Add', [product, bias], [output], `${base}_bias_Add`));
    }
    this.replace(node, nodes, w.name);
  }

  private conv(node: NodeProto): void {
    const w = this.weightAt(node, 1);
    if (!w) return;
    const precision = this.precisionOf(w.name);
    if (precision === 32) return;
    if (precision === 16) return this.toFloat16(node, 1, w);
    if (this.keptAsStored(node, w)) return;
    if (precision < 8)
      this.note(
        w.name,
        node,
        `Conv weights have an 8-bit form only (DequantizeLinear int8/uint8); stored at 8, not ${precision}`,
      );
    this.dequantizeLinear(node, 1, w, 'channel');
  }

  private gather(node: NodeProto): void {
    const w = this.weightAt(node, 0);
    if (!w) return;
    const precision = this.precisionOf(w.name);
    if (precision === 32) return;
    if (precision === 16) return this.toFloat16(node, 0, w);
    if (this.policy.quantizeEmbeddingTables === false) {
      this.note(
        w.name,
        node,
        `embedding table kept at fp32: this backend's onnxruntime has no GatherBlockQuantized kernel (WebGPU has)`,
      );
      return;
    }
    const [V, D] = dimsOf(w.tensor) as [number, number];
    const bits: Bits = precision === 8 ? 8 : 4;
    if (precision === 2) this.note(w.name, node, 'GatherBlockQuantized has no 2-bit form; embedding stored at 4');
    const blockSize = this.policy.groupSize > 0 ? this.policy.groupSize : largestPowerOfTwoDividing(D);
    if (
      blockSize < 16 ||
      D % blockSize !== 0 ||
      w.tensor.dataType === DataType.DOUBLE ||
      w.tensor.dataType === DataType.BFLOAT16
    ) {
      this.note(w.name, node, `embedding width ${D} has no block of 16 or more that divides it; kept as is`);
      return;
    }
    const q = quantizeRows(readFloats(w.tensor), D, V, { ...this.quantizeOptions(bits), bits });
    const { node: replacement, tensors } = gatherBlockQuantized(
      q,
      node.input![1]!,
      node.output![0]!,
      this.unique(w.name),
      w.tensor.dataType!,
    );
    this.addTensors(tensors, w.name);
    this.replace(node, [replacement], w.name);
  }

  private norm(node: NodeProto, index: number, w: ConstantWeight): void {
    const precision = this.precisionOf(w.name);
    if (precision === 32) return;
    if (precision === 16) return this.toFloat16(node, index, w);
    if (this.keptAsStored(node, w)) return;
    if (precision < 8)
      this.note(w.name, node, `normalisation weights have an 8-bit form only; stored at 8, not ${precision}`);
    this.dequantizeLinear(node, index, w, 'tensor');
  }

  private otherMatrix(node: NodeProto, index: number, w: ConstantWeight): void {
    const precision = this.precisionOf(w.name);
    if (precision === 32) return;
    if (precision === 16) return this.toFloat16(node, index, w);
    if (this.keptAsStored(node, w)) return;
    if (precision < 8)
      this.note(w.name, node, `no ${precision}-bit op reads this weight; stored at 8 through DequantizeLinear`);
    this.dequantizeLinear(node, index, w, 'channel');
  }

  /**
   * 8-bit weight behind a DequantizeLinear: int8 with no zero point (symmetric; the implied zero point
   * 2^7 of the shared formulas becomes 0 after shifting the codes by -128) or uint8 with per-channel zero
   * points (asymmetric). Per output channel (axis 0) or one scale for the tensor.
   */
  private dequantizeLinear(node: NodeProto, index: number, w: ConstantWeight, granularity: 'channel' | 'tensor'): void {
    const output = this.expandOnce(w, 'dq', () => {
      const dims = dimsOf(w.tensor);
      const rows = granularity === 'channel' ? dims[0]! : 1;
      const K = dims.reduce((a, b) => a * b, 1) / rows;
      const q = quantizeRows(readFloats(w.tensor), K, rows, {
        ...this.quantizeOptions(8),
        bits: 8,
        groupSize: granularity === 'channel' ? 0 : -1,
      });
      const symmetric = q.scheme === 'symmetric';
      const codes = new Uint8Array(K * rows);
      for (let r = 0; r < rows; r++) {
        const block = q.data.subarray(r * q.kBlocks * q.blockSize, r * q.kBlocks * q.blockSize + K);
        // A uint8 byte minus 128 reinterpreted as int8 is the same bit pattern as flipping the top bit.
        codes.set(symmetric ? block.map((b) => b ^ 0x80) : block, r * K);
      }
      const base = this.unique(w.name);
      const names = { x: `${base}_Q8`, scale: `${base}_scale`, zp: `${base}_zp`, out: `${base}_dq` };
      const scales =
        granularity === 'channel' ? q.scales.filter((_, i) => i % q.kBlocks === 0) : q.scales.subarray(0, 1);
      const scaleDims = granularity === 'channel' ? [rows] : [];
      const tensors = [
        rawTensor(names.x, symmetric ? DataType.INT8 : DataType.UINT8, dims, codes),
        w.tensor.dataType === DataType.FLOAT16
          ? float16Tensor(names.scale, scaleDims, toFloat16(scales))
          : floatTensor(names.scale, scaleDims, Float32Array.from(scales)),
      ];
      const inputs = [names.x, names.scale];
      if (!symmetric) {
        tensors.push(
          rawTensor(
            names.zp,
            DataType.UINT8,
            scaleDims,
            Uint8Array.from({ length: rows }, (_, r) => zeroPointOf(q, r, 0)),
          ),
        );
        inputs.push(names.zp);
      }
      this.addTensors(tensors, w.name);
      // ai.onnx DequantizeLinear has `axis` from opset 13; below that, onnxruntime's com.microsoft one does.
      const opset = opsetVersion(this.model);
      const domain = opset >= 13 || (granularity === 'tensor' && opset >= 10) ? '' : MS_DOMAIN;
      if (domain === MS_DOMAIN) ensureOpset(this.model, MS_DOMAIN, 1);
      const attrs = granularity === 'channel' ? [intAttr('axis', 0)] : [];
      return {
        nodes: [makeNode('DequantizeLinear', inputs, [names.out], `${base}_DequantizeLinear`, attrs, domain)],
        output: names.out,
      };
    });
    this.redirect(node, index, w.name, output);
  }

  /** fp16 weight + Cast to the original type. onnxruntime may fold the Cast at load and hold fp32: the host measures.
   * */
  private toFloat16(node: NodeProto, index: number, w: ConstantWeight): void {
    // A dry run lists MatMulNBits weights only: it must neither read this weight nor change the graph.
    if (this.requests || w.tensor.dataType === DataType.FLOAT16) return;
    const output = this.expandOnce(w, 'fp16', () => {
      const base = this.unique(w.name);
      const half = `${base}_fp16`;
      const out = `${base}_fp32`;
      this.addTensors([float16Tensor(half, dimsOf(w.tensor), toFloat16(readFloats(w.tensor)))], w.name);
      return { nodes: [castNode(half, out, w.tensor.dataType ?? DataType.FLOAT)], output: out };
    });
    this.redirect(node, index, w.name, output);
  }

  /**
   * Makes the nodes that turn a stored weight back into a float value once per weight, at the front of
   * the graph that held the original: every consumer is in that graph or in a subgraph of it (which
   * sees outer values), and the nodes read only initializers, so the front is a valid place.
   */
  private expandOnce(w: ConstantWeight, form: string, make: () => { nodes: NodeProto[]; output: string }): string {
    const key = `${w.name}|${form}`;
    const existing = this.expanded.get(key);
    if (existing) return existing;
    const { nodes, output } = make();
    w.graph.node!.unshift(...nodes);
    this.expanded.set(key, output);
    return output;
  }

  private redirect(node: NodeProto, index: number, weight: string, value: string): void {
    node.input![index] = value;
    this.redirected.add(weight);
  }

  private replace(node: NodeProto, nodes: NodeProto[], weight: string): void {
    this.replaced.set(node, nodes);
    this.redirected.add(weight);
    ensureOpset(this.model, MS_DOMAIN, 1);
  }

  private request(r: QuantizationRequest): void {
    if (!this.requests!.has(r.key)) this.requests!.set(r.key, r);
  }

  /** The weight quantized elsewhere for this key, checked against what this rewrite would have made. */
  private precomputedFor(key: string, K: number, N: number, options: QuantizeOptions): QuantizedWeight | undefined {
    const q = this.precomputed?.get(key);
    if (!q) return undefined;
    if (
      q.K !== K ||
      q.N !== N ||
      q.bits !== options.bits ||
      q.scheme !== options.scheme ||
      q.groupSize !== options.groupSize
    ) {
      throw new Error(
        `precomputed weight ${key} is ${q.bits}-bit ${q.scheme} group ${q.groupSize} [${q.K}, ${q.N}], not what the policy asks for`,
      );
    }
    return q;
  }

  private matMulNBitsType(w: ConstantWeight, node: NodeProto): boolean {
    if (w.tensor.dataType === DataType.FLOAT || w.tensor.dataType === DataType.FLOAT16) return true;
    this.note(
      w.name,
      node,
      `MatMulNBits takes float or float16 activations, not type ${String(w.tensor.dataType)}; kept as is`,
    );
    return false;
  }

  private quantizeOptions(bits: Precision) {
    if (bits !== 2 && bits !== 4 && bits !== 8) throw notSupportedError(`no integer form for ${bits} bits`);
    const options = { bits: bits as Bits, scheme: this.policy.scheme, groupSize: this.policy.groupSize };
    return this.policy.scaleSearch === undefined ? options : { ...options, scaleSearch: this.policy.scaleSearch };
  }

  /** New tensors go to the main graph: initializers there are visible from every subgraph. */
  private addTensors(tensors: onnx.TensorProto[], weight: string): void {
    for (const t of tensors) {
      t.docString = `webq:${weight}`;
      this.names.add(t.name);
    }
    this.root.initializer ??= [];
    this.root.initializer.push(...tensors);
  }

  /** A prefix for the names made for one weight (`${prefix}_Q4`, `_scales`, ...) that no existing name uses. */
  private unique(base: string): string {
    for (let i = 0; ; i++) {
      const candidate = i === 0 ? base : `${base}_${i}`;
      if (this.prefixes.has(candidate)) continue;
      if ([...this.names].some((n) => n.startsWith(`${candidate}_`))) continue;
      this.prefixes.add(candidate);
      return candidate;
    }
  }

  /** Under `dequantizeLinear: false`, a weight whose quantized form would be a DequantizeLinear stays as stored. */
  private keptAsStored(node: NodeProto, w: ConstantWeight): boolean {
    if (this.policy.dequantizeLinear !== false) return false;
    const op = node.opType ?? '';
    const names = this.keptFromDequantizeLinear.get(op) ?? new Set<string>();
    this.keptFromDequantizeLinear.set(op, names.add(w.name));
    return true;
  }

  private note(name: string, node: NodeProto, message: string): void {
    this.notes.push({ name, op: node.opType ?? '', message });
  }

  /** Drops the original of every redirected weight that no node and no graph output reads any more. */
  private removeUnused(): void {
    const used = new Set<string>();
    forEachGraph(this.root, (g) => {
      for (const n of g.node ?? []) for (const i of n.input ?? []) used.add(i);
      for (const o of g.output ?? []) if (o.name) used.add(o.name);
    });
    const gone = new Set([...this.redirected].filter((name) => !used.has(name)));
    forEachGraph(this.root, (g) => {
      g.initializer = (g.initializer ?? []).filter((t) => !gone.has(t.name ?? ''));
      g.node = (g.node ?? []).filter((n) => !(n.opType === 'Constant' && gone.has(n.output?.[0] ?? '')));
      g.input = (g.input ?? []).filter((v) => !gone.has(v.name ?? ''));
      g.valueInfo = (g.valueInfo ?? []).filter((v) => !gone.has(v.name ?? ''));
    });
  }
}

function isFloat(w: ConstantWeight): boolean {
  const t = w.tensor.dataType;
  return t === DataType.FLOAT || t === DataType.FLOAT16 || t === DataType.DOUBLE || t === DataType.BFLOAT16;
}

/** A request's key: everything that decides the quantized bytes of one use of a weight. */
function requestKey(
  name: string,
  op: string,
  K: number,
  N: number,
  o: QuantizeOptions,
  alpha: number,
  transB: number,
): string {
  return `${op}|${name}|${K}x${N}|alpha=${alpha}|transB=${transB}|b${o.bits}/${o.scheme}/g${o.groupSize}/search=${o.scaleSearch ?? o.bits === 2}`;
}

/** rows [R, C] row-major → [C, R]. */
function transpose(rows: Float32Array, R: number, C: number): Float32Array {
  const out = new Float32Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[c * R + r] = rows[r * C + c]!;
  return out;
}

function largestPowerOfTwoDividing(n: number): number {
  return n & -n;
}
