/**
 * webq's own decode engine: a Llama/Qwen2/Qwen3 decoder run on webq's WGSL kernels (kernels/), from the weights a
 * prepared graph holds (native/decoder-weights.ts). The KV cache lives on the GPU ([kvHeads, capacity, headDim] per
 * layer, grown by doubling); a step records every layer of every token of a chunk into one command buffer, and only
 * the token id (4 bytes) comes back for a greedy step, or the last logits row when sampling needs it.
 *
 * Per layer: RMSNorm → q/k/v (quantized GEMV, or GEMM for a prefill chunk of more than 4 tokens; biases in the
 * kernel) → (Qwen3) RMSNorm of each head's q and k → rotary on q and k → k/v written into the cache → causal
 * grouped-query attention over the cache → o → residual add → RMSNorm → gate and up (one GEMV/GEMM over both
 * weights side by side, where they fit together) → SiLU·mul → down → residual add (o and down add into the residual
 * stream in their own dispatch). Then the final norm of the last row, the head and an argmax over the tokenizer's
 * vocabulary on the GPU; or, for sampling with top-k, the k best (id, logit) pairs (k × 8 bytes read back, not the
 * row).
 *
 * Embeddings are looked up on the CPU (one row of `hidden` floats per new token, written with the step's
 * submission): the ids are known there anyway, and a GatherBlockQuantized table is dequantized exactly as
 * onnxruntime does it.
 *
 * No extension imports beyond pure modules: it runs in the engine host and in Node on Dawn alike.
 */
import {
  argmax,
  MAX_TOP_K,
  topK,
  attention,
  destroyQuantized,
  kvWrite,
  matmul,
  matvecRows,
  rmsNorm,
  rope,
  siluMul,
  siluMulRows,
  concatColumns,
  sliceColumns,
  uploadBytes,
  uploadQuantized,
  GEMM_DEFAULTS,
  GEMM_UNSTAGED_DEFAULTS,
  GEMV_MAX_ROWS,
  GEMV_DEFAULTS,
  type GemvOptions,
  type GpuQuantizedWeight,
  type GemmOptions,
} from '../../kernels/index';
import { isSoftwareAdapter } from '../../kernels/pipelines';
import { createStorage } from '../../kernels/weights';
import type { NativeStepper, StepResult, StepWant } from '../tasks/types';
import type { DecoderWeights, NativeLinear } from './decoder-weights';

/**
 * Tiles of the quantized GEMV/GEMM on a CPU-emulated adapter (SwiftShader, lavapipe): the kernel bench's SwiftShader
 * profile (kernels/README.md "Benchmark"). GPUs keep the kernels' defaults until calibration feeds them.
 */
export const EMULATED_TILES: Pick<NativeDecoderOptions, 'gemv' | 'gemm' | 'topKOnGpu'> = {
  // SwiftShader pays for every workgroup barrier: the top-k kernel took 0.65–0.93 s where reading the row back and
  // picking on the CPU took 2–3 ms (bench/top-k.ts, Qwen2's vocabulary, k 50).
  topKOnGpu: false,
  gemv: { workgroupSize: [4, 16, 1], colsPerThread: 2 },
  // For the same reason the GEMM stages nothing in workgroup memory there: 1.37–2.46× onnxruntime-web's MatMulNBits
  // at 4 and 8 bits, M = 16, where the staged [16, 4] 4×4 tile ran 0.63–0.95× (bench/kernels.mjs; kernels/README.md).
  gemm: { stage: false },
};

export interface NativeDecoderOptions {
  /** Tiles of the quantized GEMV/GEMM (default: the kernels' own, or EMULATED_TILES on a CPU-emulated adapter). */
  gemv?: GemvOptions;
  gemm?: GemmOptions;
  /** Where `gemv`/`gemm` came from, for the report (e.g. the options page's calibration on this adapter). */
  tilesFrom?: string;
  /**
   * Gate and up as one weight [K, 2·intermediate] and one matmul per layer (default true; false keeps two, for
   * comparison).
   */
  fuseGateUp?: boolean;
  /**
   * A layer's two RMSNorms run inside the GEMVs that read them (q, k, v; gate and up) during decoding, instead of
   * as dispatches of their own (default true; false keeps them apart, for comparison). Prefill chunks run through
   * the GEMM, which takes the normalized rows from rmsNorm either way.
   */
  fuseNorm?: boolean;
  /**
   * A sampled step's top-k is picked on the GPU and only k (logit, id) pairs come back (kernels/top-k.ts); false
   * gives the logits row instead, which the sampler reduces itself (the same token). Default true, false on a
   * CPU-emulated adapter.
   */
  topKOnGpu?: boolean;
  /** Tokens recorded per prefill chunk (default 32). */
  chunk?: number;
  /** Positions the KV cache is allocated for at first (grown by doubling up to `maxPositions`). */
  initialCapacity?: number;
  /** The most positions a sequence may reach (the context window). */
  maxPositions: number;
  /**
   * The most bytes one weight's binding may hold (default and at most: the device's maxStorageBufferBindingSize).
   * A head larger than this runs in parts of whole vocabulary rows; tests lower it to split small heads.
   */
  maxBindingBytes?: number;
}

/** Vocabulary rows [from, from + count) of the head: fp32 table rows, or the MatMulNBits columns of those rows. */
type HeadPart = { from: number; count: number } & ({ rows: GPUBuffer } | { linear: GpuLinear });

interface GpuLinear {
  w: GpuQuantizedWeight;
  bias?: GPUBuffer;
}

interface GpuLayer {
  inputNorm: GPUBuffer;
  postNorm: GPUBuffer;
  q: GpuLinear;
  k: GpuLinear;
  v: GpuLinear;
  o: GpuLinear;
  /** Gate and up, or both side by side as `gateUp` (its output rows [gate | up], 2·intermediate wide). */
  mlpIn: { gate: GpuLinear; up: GpuLinear } | { gateUp: GpuLinear };
  down: GpuLinear;
  /** Qwen3's per-head norms of q and k ([headDim] each). */
  qNorm?: GPUBuffer;
  kNorm?: GPUBuffer;
  kCache: GPUBuffer;
  vCache: GPUBuffer;
}

/** Activations of one chunk of `tokens` rows. */
interface Scratch {
  tokens: number;
  x: GPUBuffer;
  h: GPUBuffer;
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  /** With q/k norms: the projections before the norm (the norm kernel cannot write over its own input). */
  qRaw?: GPUBuffer;
  kRaw?: GPUBuffer;
  attn: GPUBuffer;
  /** gate rows, or [gate | up] rows when they are one matmul (`up` only where some layer runs two). */
  gate: GPUBuffer;
  up?: GPUBuffer;
  act: GPUBuffer;
}

export class NativeDecoder implements NativeStepper {
  private readonly layers: GpuLayer[];
  private readonly finalNorm: GPUBuffer;
  /** The head in parts that each fit one binding (one part unless the head is larger than that). */
  private readonly head: HeadPart[];
  /** A part's logits, copied into `logits` at the part's rows (only when the head has several parts). */
  private readonly partLogits: GPUBuffer | undefined;
  private readonly cos: GPUBuffer;
  private readonly sin: GPUBuffer;
  private readonly last: GPUBuffer;
  private readonly lastNorm: GPUBuffer;
  private readonly logits: GPUBuffer;
  private readonly token: GPUBuffer;
  /** The top-k pairs of a sampled step: (logit bits, id) × MAX_TOP_K. */
  private readonly candidates: GPUBuffer;
  private readonly scratch = new Map<number, Scratch>();
  private readonly options: NativeDecoderOptions;
  private capacity: number;
  private destroyed = false;
  /** Where the GEMV/GEMM tiles came from (`tiles` says what they are). */
  readonly tilesFrom: string;
  /** Positions the cache holds. */
  length = 0;
  /** The sequence the cache holds (the decode loop's KvCache), once its last step succeeded. */
  private owner: object | undefined;
  /** Steps run one at a time: two requests on one model must not interleave their writes to the cache. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly device: GPUDevice,
    private readonly weights: DecoderWeights,
    options: NativeDecoderOptions,
  ) {
    const emulated = isSoftwareAdapter(device);
    this.options = emulated ? { ...EMULATED_TILES, ...options } : options;
    this.tilesFrom =
      options.tilesFrom ??
      (emulated ? "the kernel bench's SwiftShader profile (a CPU-emulated adapter)" : "the kernels' defaults");
    const w = weights;
    const limit = this.bindingLimit;
    const largest = Math.max(
      ...w.layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down].map((x) => x.w.data.byteLength)),
    );
    if (largest > limit)
      throw new RangeError(`a weight of ${largest} bytes exceeds the device's ${limit}-byte storage binding limit`);
    const up = (data: Float32Array, label: string) => uploadBytes(device, data, label);
    const linear = (l: NativeLinear): GpuLinear => ({
      w: uploadQuantized(device, l.w),
      ...(l.bias ? { bias: up(l.bias, 'webq.native.bias') } : {}),
    });
    this.capacity = Math.min(options.initialCapacity ?? 256, this.maxPositions);
    this.layers = w.layers.map((l) => ({
      inputNorm: up(l.inputNorm, 'webq.native.norm'),
      postNorm: up(l.postNorm, 'webq.native.norm'),
      q: linear(l.q),
      k: linear(l.k),
      v: linear(l.v),
      o: linear(l.o),
      mlpIn: this.mlpIn(l.gate, l.up, options.fuseGateUp !== false, linear),
      down: linear(l.down),
      ...(l.qNorm && l.kNorm
        ? { qNorm: up(l.qNorm, 'webq.native.qNorm'), kNorm: up(l.kNorm, 'webq.native.kNorm') }
        : {}),
      kCache: this.cacheBuffer(this.capacity),
      vCache: this.cacheBuffer(this.capacity),
    }));
    this.finalNorm = up(w.finalNorm, 'webq.native.norm');
    this.head = this.uploadHead(linear);
    this.partLogits =
      this.head.length > 1
        ? createStorage(device, Math.max(...this.head.map((p) => p.count)) * 4, 'webq.native.partLogits')
        : undefined;
    this.cos = up(w.rotary.cos, 'webq.native.cos');
    this.sin = up(w.rotary.sin, 'webq.native.sin');
    this.last = createStorage(device, w.hidden * 4, 'webq.native.last');
    this.lastNorm = createStorage(device, w.hidden * 4, 'webq.native.lastNorm');
    this.logits = createStorage(device, w.vocab * 4, 'webq.native.logits');
    this.token = createStorage(device, 4, 'webq.native.token');
    this.candidates = createStorage(device, MAX_TOP_K * 8, 'webq.native.candidates');
  }

  /** The most bytes one binding may hold: the device's limit, or less where the options say so. */
  private get bindingLimit(): number {
    return Math.min(this.device.limits.maxStorageBufferBindingSize, this.options.maxBindingBytes ?? Infinity);
  }

  /**
   * The head as GPU weights, in parts of whole vocabulary rows that each fit one binding: a large vocabulary's head
   * is the largest weight of a decoder (Qwen2's tied fp32 head is 151,936 × 896 × 4 bytes), and many adapters bind
   * at most 128 MiB (lavapipe's and WebGPU's default maxStorageBufferBindingSize).
   */
  private uploadHead(linear: (l: NativeLinear) => GpuLinear): HeadPart[] {
    const { head, hidden, vocab } = this.weights;
    let rowBytes: number;
    if (head.kind === 'rows') rowBytes = hidden * 4;
    else {
      const q = head.linear.w;
      rowBytes = Math.max(q.data.byteLength, q.scales.byteLength, q.zeroPoints?.byteLength ?? 0) / q.N;
    }
    const perPart = Math.floor(this.bindingLimit / rowBytes);
    if (perPart < 1)
      throw new RangeError(`one head row of ${rowBytes} bytes exceeds the ${this.bindingLimit}-byte binding limit`);
    const parts: HeadPart[] = [];
    for (let from = 0; from < vocab; from += perPart) {
      const count = Math.min(perPart, vocab - from);
      if (head.kind === 'rows') {
        const rows = head.rows.subarray(from * hidden, (from + count) * hidden);
        parts.push({ from, count, rows: uploadBytes(this.device, rows, 'webq.native.head') });
      } else {
        const { w, bias } = head.linear;
        parts.push({
          from,
          count,
          linear: linear({
            w: sliceColumns(w, from, count), // views: the whole head when it is one part
            ...(bias ? { bias: bias.subarray(from, from + count) } : {}),
          }),
        });
      }
    }
    return parts;
  }

  /** How many parts the head runs in: one, unless it is larger than a binding may hold. */
  get headParts(): number {
    return this.head.length;
  }

  /** Whether every layer runs its gate and up projections as one matmul. */
  get fusedGateUp(): boolean {
    return this.layers.every((l) => 'gateUp' in l.mlpIn);
  }

  /**
   * Gate and up of one layer as GPU weights: side by side in one weight where asked and where they fit together
   * (the same width, scheme and blocks, no biases, within the device's storage binding size), else apart.
   */
  private mlpIn(
    gate: NativeLinear,
    up: NativeLinear,
    fuse: boolean,
    linear: (l: NativeLinear) => GpuLinear,
  ): GpuLayer['mlpIn'] {
    const both = fuse && !gate.bias && !up.bias ? concatColumns(gate.w, up.w) : undefined;
    if (both && both.data.byteLength <= this.bindingLimit) return { gateUp: linear({ w: both }) };
    return { gate: linear(gate), up: linear(up) };
  }

  /** The GEMV and GEMM tiles this engine runs at, the kernels' defaults filled in (for the report). */
  get tiles(): string {
    const v = this.options.gemv ?? {};
    const m = this.options.gemm ?? {};
    const gemvSize = v.workgroupSize ?? GEMV_DEFAULTS.workgroupSize;
    const d = m.stage === false ? GEMM_UNSTAGED_DEFAULTS : GEMM_DEFAULTS;
    const gemmSize = m.workgroupSize ?? d.workgroupSize;
    const perThread = `${m.rowsPerThread ?? d.rowsPerThread}×${m.colsPerThread ?? d.colsPerThread}`;
    return (
      `GEMV workgroup [${gemvSize.join(', ')}], ${v.colsPerThread ?? GEMV_DEFAULTS.colsPerThread} columns per thread; ` +
      `GEMM workgroup [${gemmSize.join(', ')}], ${perThread} per thread, ` +
      (m.stage === false ? 'unstaged (no workgroup memory)' : `K tile ${m.kTile ?? GEMM_DEFAULTS.kTile}`)
    );
  }

  /** The most positions a sequence can reach: the context window, and the rotary tables' rows. */
  get maxPositions(): number {
    return Math.min(this.options.maxPositions, this.weights.rotary.positions);
  }

  /** Forgets the cached positions (their memory is kept for the next sequence). */
  reset(): void {
    this.length = 0;
    this.owner = undefined;
  }

  /**
   * Runs `ids` after `history`, what `sequence` already holds: when the cache holds another sequence (or a step of
   * this one failed), it is rebuilt from `history` in the same step. One step at a time (queued).
   */
  step(
    sequence: object,
    history: readonly number[],
    ids: readonly number[],
    want: StepWant,
    vocabLimit: number,
  ): Promise<StepResult> {
    const run = async () => {
      let feed = ids;
      if (this.owner !== sequence || this.length !== history.length) {
        this.reset();
        feed = [...history, ...ids];
      }
      this.owner = undefined; // until the step has succeeded
      const out = await this.run(feed, want, vocabLimit);
      this.owner = sequence;
      return out;
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Runs `ids` after the cached positions and gives the greedy token among the first `vocabLimit` logits, the last
   * position's logits row (`want` 'logits', and `{ topK }` where `topKOnGpu` is off), or the `topK` best of the first
   * `vocabLimit` logits, best first (ties to the smaller id, as sampling.ts orders them).
   */
  async run(ids: readonly number[], want: StepWant, vocabLimit: number): Promise<StepResult> {
    if (this.destroyed) throw new Error('the native decoder was destroyed');
    if (ids.length === 0) throw new RangeError('step: no ids');
    const { hidden, vocab } = this.weights;
    if (this.length + ids.length > this.maxPositions)
      throw new RangeError(`step: ${this.length + ids.length} positions exceed the ${this.maxPositions} allowed`);
    for (const id of ids)
      if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new RangeError(`step: id ${id} outside the vocabulary`);
    this.ensureCapacity(this.length + ids.length);
    const chunk = Math.max(1, this.options.chunk ?? 32);
    const start = this.length;
    const k = typeof want === 'object' ? want.topK : 0;
    if (typeof want === 'object' && !(Number.isInteger(k) && k >= 1 && k <= MAX_TOP_K))
      throw new RangeError(`step: topK must be an integer from 1 to ${MAX_TOP_K}, got ${k}`);
    const gpuTopK = k > 0 && this.options.topKOnGpu !== false;
    const bytes = want === 'token' ? 4 : gpuTopK ? k * 8 : vocab * 4;
    const staging = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    for (let from = 0; from < ids.length; from += chunk) {
      const part = ids.slice(from, from + chunk);
      const s = this.scratchFor(part.length);
      const rows = new Float32Array(part.length * hidden);
      part.forEach((id, t) => rows.set(this.weights.embed(id), t * hidden));
      this.device.queue.writeBuffer(s.x, 0, rows);
      const encoder = this.device.createCommandEncoder({ label: 'webq.native.step' });
      for (const layer of this.layers) this.recordLayer(encoder, layer, s, start + from);
      const lastChunk = from + chunk >= ids.length;
      if (lastChunk) {
        const limit = Math.min(vocabLimit, vocab);
        this.recordHead(encoder, s, want === 'token' ? limit : 0);
        if (gpuTopK) topK(this.device, { x: this.logits, count: limit, k, out: this.candidates }, encoder);
        const result = want === 'token' ? this.token : gpuTopK ? this.candidates : this.logits;
        encoder.copyBufferToBuffer(result, 0, staging, 0, bytes);
      }
      this.device.queue.submit([encoder.finish()]);
    }
    this.length = start + ids.length;
    try {
      await staging.mapAsync(GPUMapMode.READ);
      const out = staging.getMappedRange().slice(0);
      staging.unmap();
      if (want === 'token') return { token: new Uint32Array(out)[0]! };
      if (!gpuTopK) return { logits: new Float32Array(out) };
      // (logit bits, id) pairs; pairs past the candidates there are have the id 0xffffffff.
      const pairs = new Uint32Array(out);
      let n = 0;
      while (n < k && pairs[2 * n + 1] !== 0xffffffff) n++;
      const candidates = { ids: new Uint32Array(n), logits: new Float32Array(n) };
      const bits = new Uint32Array(candidates.logits.buffer);
      for (let j = 0; j < n; j++) {
        candidates.ids[j] = pairs[2 * j + 1]!;
        bits[j] = pairs[2 * j]!;
      }
      return { candidates };
    } finally {
      staging.destroy();
    }
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const l of this.layers) {
      for (const b of [l.inputNorm, l.postNorm, l.kCache, l.vCache, l.qNorm, l.kNorm]) b?.destroy();
      for (const lin of [l.q, l.k, l.v, l.o, ...Object.values(l.mlpIn), l.down]) {
        destroyQuantized(lin.w);
        lin.bias?.destroy();
      }
    }
    for (const part of this.head) {
      if ('rows' in part) part.rows.destroy();
      else {
        destroyQuantized(part.linear.w);
        part.linear.bias?.destroy();
      }
    }
    this.partLogits?.destroy();
    for (const b of [
      this.finalNorm,
      this.cos,
      this.sin,
      this.last,
      this.lastNorm,
      this.logits,
      this.token,
      this.candidates,
    ])
      b.destroy();
    for (const s of this.scratch.values()) for (const b of Object.values(s)) if (typeof b !== 'number') b?.destroy();
    this.scratch.clear();
  }

  private recordLayer(encoder: GPUCommandEncoder, l: GpuLayer, s: Scratch, position0: number): void {
    const { device } = this;
    const { hidden, heads, kvHeads, headDim, intermediate, eps } = this.weights;
    const T = s.tokens;
    // `accumulate`: y += the product, the residual add in the projection's own dispatch (rounded as addInPlace does).
    // `norm`: A is s.x and the GEMV normalizes it itself.
    const mm = (a: GPUBuffer, lin: GpuLinear, y: GPUBuffer, accumulate = false, norm?: GPUBuffer) =>
      matmul(
        device,
        {
          a,
          M: T,
          w: lin.w,
          y,
          ...(lin.bias ? { bias: lin.bias } : {}),
          ...(accumulate ? { accumulate } : {}),
          ...(norm ? { norm: { weight: norm, eps } } : {}),
        },
        { gemv: this.options.gemv, gemm: this.options.gemm },
        encoder,
      );
    // The normalized residual stream as the projections read it: s.x with the norm fused into their GEMVs, or s.h.
    const fuse = this.options.fuseNorm !== false && T <= GEMV_MAX_ROWS;
    const normed = (weight: GPUBuffer) => {
      if (fuse) return (lin: GpuLinear, y: GPUBuffer) => mm(s.x, lin, y, false, weight);
      rmsNorm(device, { x: s.x, weight, y: s.h, rows: T, dim: hidden, eps }, encoder);
      return (lin: GpuLinear, y: GPUBuffer) => mm(s.h, lin, y);
    };
    const tables = { cos: this.cos, sin: this.sin, positions: this.weights.rotary.positions };
    const attnProject = normed(l.inputNorm);
    if (l.qNorm && l.kNorm) {
      // Qwen3: q [T, heads·headDim] is T·heads rows of one head each, and each row gets its own RMSNorm.
      attnProject(l.q, s.qRaw!);
      attnProject(l.k, s.kRaw!);
      rmsNorm(device, { x: s.qRaw!, weight: l.qNorm, y: s.q, rows: T * heads, dim: headDim, eps }, encoder);
      rmsNorm(device, { x: s.kRaw!, weight: l.kNorm, y: s.k, rows: T * kvHeads, dim: headDim, eps }, encoder);
    } else {
      attnProject(l.q, s.q);
      attnProject(l.k, s.k);
    }
    attnProject(l.v, s.v);
    rope(device, { x: s.q, ...tables, tokens: T, heads, headDim, position0 }, encoder);
    rope(device, { x: s.k, ...tables, tokens: T, heads: kvHeads, headDim, position0 }, encoder);
    const cache = { kCache: l.kCache, vCache: l.vCache, kvHeads, headDim, capacity: this.capacity };
    kvWrite(device, { k: s.k, v: s.v, ...cache, tokens: T, position0 }, encoder);
    attention(
      device,
      { q: s.q, ...cache, out: s.attn, tokens: T, heads, position0, scale: Math.fround(1 / Math.sqrt(headDim)) },
      encoder,
    );
    mm(s.attn, l.o, s.x, true); // x += o(attn)
    const mlpProject = normed(l.postNorm);
    if ('gateUp' in l.mlpIn) {
      mlpProject(l.mlpIn.gateUp, s.gate);
      siluMulRows(device, { gateUp: s.gate, out: s.act, rows: T, width: intermediate }, encoder);
    } else {
      mlpProject(l.mlpIn.gate, s.gate);
      mlpProject(l.mlpIn.up, s.up!);
      siluMul(device, { gate: s.gate, up: s.up!, out: s.act, count: T * intermediate }, encoder);
    }
    mm(s.act, l.down, s.x, true); // x += down(act)
  }

  /** Final norm of the last row, the head, and (vocabLimit > 0) the argmax into `token`. */
  private recordHead(encoder: GPUCommandEncoder, s: Scratch, vocabLimit: number): void {
    const { device } = this;
    const { hidden, eps } = this.weights;
    encoder.copyBufferToBuffer(s.x, (s.tokens - 1) * hidden * 4, this.last, 0, hidden * 4);
    rmsNorm(device, { x: this.last, weight: this.finalNorm, y: this.lastNorm, rows: 1, dim: hidden, eps }, encoder);
    for (const part of this.head) {
      // One part writes the logits itself; several each write theirs, copied into the row at the part's place.
      const y = this.partLogits ?? this.logits;
      if ('rows' in part)
        matvecRows(device, { table: part.rows, x: this.lastNorm, y, rows: part.count, dim: hidden }, encoder);
      else
        matmul(
          device,
          { a: this.lastNorm, M: 1, w: part.linear.w, y, ...(part.linear.bias ? { bias: part.linear.bias } : {}) },
          { gemv: this.options.gemv },
          encoder,
        );
      if (this.partLogits) encoder.copyBufferToBuffer(this.partLogits, 0, this.logits, part.from * 4, part.count * 4);
    }
    if (vocabLimit > 0) argmax(device, { x: this.logits, count: vocabLimit, out: this.token }, encoder);
  }

  private scratchFor(tokens: number): Scratch {
    let s = this.scratch.get(tokens);
    if (!s) {
      const { hidden, heads, kvHeads, headDim, intermediate } = this.weights;
      const make = (floats: number, label: string) => createStorage(this.device, tokens * floats * 4, label);
      s = {
        tokens,
        x: make(hidden, 'webq.native.x'),
        h: make(hidden, 'webq.native.h'),
        q: make(heads * headDim, 'webq.native.q'),
        k: make(kvHeads * headDim, 'webq.native.k'),
        v: make(kvHeads * headDim, 'webq.native.v'),
        ...(this.layers[0]?.qNorm
          ? { qRaw: make(heads * headDim, 'webq.native.qRaw'), kRaw: make(kvHeads * headDim, 'webq.native.kRaw') }
          : {}),
        attn: make(heads * headDim, 'webq.native.attn'),
        // [gate | up] rows where some layer runs them as one matmul; `up` where some layer runs two.
        gate: make((this.layers.some((l) => 'gateUp' in l.mlpIn) ? 2 : 1) * intermediate, 'webq.native.gate'),
        ...(this.fusedGateUp ? {} : { up: make(intermediate, 'webq.native.up') }),
        act: make(intermediate, 'webq.native.act'),
      };
      // Decode steps (1 token) and full prefill chunks recur; a last partial chunk is freed after use.
      if (this.scratch.size > 4) {
        const [key, old] = this.scratch.entries().next().value as [number, Scratch];
        this.scratch.delete(key);
        void this.device.queue.onSubmittedWorkDone().then(() => {
          for (const b of Object.values(old)) if (typeof b !== 'number') b?.destroy();
        });
      }
      this.scratch.set(tokens, s);
    }
    return s;
  }

  private cacheBuffer(capacity: number): GPUBuffer {
    const { kvHeads, headDim } = this.weights;
    return createStorage(this.device, kvHeads * capacity * headDim * 4, 'webq.native.kv');
  }

  /** Grows every layer's cache to hold `positions` (doubling), copying each head's rows to its new stride. */
  private ensureCapacity(positions: number): void {
    if (positions <= this.capacity) return;
    let capacity = this.capacity;
    while (capacity < positions) capacity *= 2;
    capacity = Math.min(capacity, this.maxPositions);
    const { kvHeads, headDim } = this.weights;
    const encoder = this.device.createCommandEncoder({ label: 'webq.native.grow' });
    const old: GPUBuffer[] = [];
    for (const l of this.layers) {
      for (const key of ['kCache', 'vCache'] as const) {
        const bigger = this.cacheBuffer(capacity);
        const rowBytes = headDim * 4;
        for (let h = 0; h < kvHeads; h++)
          if (this.length > 0)
            encoder.copyBufferToBuffer(
              l[key],
              h * this.capacity * rowBytes,
              bigger,
              h * capacity * rowBytes,
              this.length * rowBytes,
            );
        old.push(l[key]);
        l[key] = bigger;
      }
    }
    this.device.queue.submit([encoder.finish()]);
    void this.device.queue.onSubmittedWorkDone().then(() => old.forEach((b) => b.destroy()));
    this.capacity = capacity;
  }
}
