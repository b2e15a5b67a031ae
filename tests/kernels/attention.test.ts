/**
 * Decoder attention over a GPU KV cache (kernels/attention.ts) against a float64 CPU reference: kvWrite's cache
 * layout (exact, and nothing written past the new positions), then causal grouped-query attention for decode and
 * prefill steps, several head groupings and head sizes, a long context with one, the automatic and 7 splits, the
 * RangeErrors of bad arguments and pipeline reuse across shapes. Each case also checks that its bound is tight
 * enough to catch a missing scale, a wrong kv head mapping and (with several query tokens) a non-causal mask.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { attention, kvWrite, pipelineCount, readFloats, uploadBytes } from '../../kernels/index';
import { attentionSplits } from '../../kernels/attention';
import { getDevice, noGpuErrors } from './gpu';
import { uniformRandoms as randoms } from './reference';

let device: GPUDevice;
beforeAll(async () => {
  device = await getDevice(false);
});

interface Case {
  heads: number;
  kvHeads: number;
  headDim: number;
  tokens: number;
  position0: number;
  /** Earlier kvWrite calls filling positions 0..position0−1, in this many tokens each (default one call). */
  writes?: number[];
  splits?: number;
  /** Record every write and the attention into one encoder (else each call submits). */
  oneEncoder?: boolean;
}

interface Reference {
  y: Float64Array;
  /** Σ_j softmax_j · |v_j[d]| per output: the scale of the rounding error. */
  mag: Float64Array;
}

/** float64 attention; `wrong` computes the mistakes the bound must catch. */
function attentionReference(
  c: Case,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  scale: number,
  wrong: { noScale?: boolean; moduloHeads?: boolean; nonCausal?: boolean } = {},
): Reference {
  const { heads, kvHeads, headDim: D, tokens, position0 } = c;
  const L = position0 + tokens;
  const y = new Float64Array(tokens * heads * D);
  const mag = new Float64Array(tokens * heads * D);
  const group = heads / kvHeads;
  for (let t = 0; t < tokens; t++) {
    const last = wrong.nonCausal ? L - 1 : position0 + t;
    for (let h = 0; h < heads; h++) {
      const kh = wrong.moduloHeads ? h % kvHeads : Math.floor(h / group);
      const s = new Float64Array(last + 1);
      for (let j = 0; j <= last; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[(t * heads + h) * D + d]! * k[(j * kvHeads + kh) * D + d]!;
        s[j] = wrong.noScale ? dot : dot * scale;
      }
      const m = Math.max(...s);
      let sum = 0;
      for (let j = 0; j <= last; j++) sum += s[j] = Math.exp(s[j]! - m);
      for (let d = 0; d < D; d++) {
        let acc = 0,
          a = 0;
        for (let j = 0; j <= last; j++) {
          const vj = v[(j * kvHeads + kh) * D + d]!;
          acc += s[j]! * vj;
          a += s[j]! * Math.abs(vj);
        }
        y[(t * heads + h) * D + d] = acc / sum;
        mag[(t * heads + h) * D + d] = a / sum;
      }
    }
  }
  return { y, mag };
}

/** Worst |y − ref| / bound; fp32 scores and sums stay far inside 1e-4 relative to Σ softmax·|v|. */
function worstError(y: ArrayLike<number>, ref: Reference): number {
  let worst = 0;
  for (let i = 0; i < ref.y.length; i++) {
    const err = Math.abs(y[i]! - ref.y[i]!) / (ref.mag[i]! * 1e-4 + 1e-7);
    worst = Math.max(worst, Number.isNaN(err) ? Infinity : err);
  }
  return worst;
}

async function check(c: Case, dev: GPUDevice = device): Promise<void> {
  const { heads, kvHeads, headDim: D, tokens, position0 } = c;
  const L = position0 + tokens;
  const capacity = L + 5; // unwritten rows past the context stay NaN: reading one poisons the output
  const row = kvHeads * D;
  const seed = heads * 1000 + D * 10 + L;
  const k = randoms(L * row, seed, 1);
  const v = randoms(L * row, seed + 1, 1);
  const q = randoms(tokens * heads * D, seed + 2, 2);
  const scale = Math.fround(1 / Math.sqrt(D));
  const [kGpu, vGpu, y] = await noGpuErrors(dev, async () => {
    const nan = new Float32Array(kvHeads * capacity * D).fill(NaN);
    const kCache = uploadBytes(dev, nan);
    const vCache = uploadBytes(dev, nan);
    const out = uploadBytes(dev, new Float32Array(tokens * heads * D).fill(NaN));
    const encoder = c.oneEncoder ? dev.createCommandEncoder() : undefined;
    const write = (p0: number, n: number): void => {
      const args = { kvHeads, headDim: D, capacity, position0: p0, tokens: n, kCache, vCache };
      const slice = (x: Float32Array): GPUBuffer => uploadBytes(dev, x.subarray(p0 * row, (p0 + n) * row));
      kvWrite(dev, { ...args, k: slice(k), v: slice(v) }, encoder);
    };
    let p = 0;
    for (const n of c.writes ?? (position0 > 0 ? [position0] : [])) {
      write(p, n);
      p += n;
    }
    expect(p).toBe(position0);
    write(position0, tokens);
    const qBuf = uploadBytes(dev, q);
    attention(
      dev,
      {
        q: qBuf,
        kCache,
        vCache,
        out,
        tokens,
        heads,
        kvHeads,
        headDim: D,
        capacity,
        position0,
        scale,
        splits: c.splits,
      },
      encoder,
    );
    if (encoder) dev.queue.submit([encoder.finish()]);
    const n = kvHeads * capacity * D;
    return [
      await readFloats(dev, kCache, n),
      await readFloats(dev, vCache, n),
      await readFloats(dev, out, tokens * heads * D),
    ];
  });
  // kvWrite: cache[h, j, d] = x[j, h·D + d] for j < L, untouched (NaN) beyond
  for (const [got, src] of [
    [kGpu, k],
    [vGpu, v],
  ] as const) {
    let bad = 0;
    for (let h = 0; h < kvHeads; h++) {
      for (let j = 0; j < capacity; j++) {
        for (let d = 0; d < D; d++) {
          const x = got[(h * capacity + j) * D + d]!;
          if (j < L ? x !== src[(j * kvHeads + h) * D + d] : !Number.isNaN(x)) bad++;
        }
      }
    }
    expect(bad, 'cache elements not where kvWrite should put them').toBe(0);
  }
  const ref = attentionReference(c, q, k, v, scale);
  expect(worstError(y, ref), 'worst error / bound').toBeLessThanOrEqual(1);
  // the bound is tight enough to see the usual mistakes (a lone position's softmax is 1 whatever the scale)
  if (L > 1) {
    expect(worstError(y, attentionReference(c, q, k, v, scale, { noScale: true }))).toBeGreaterThan(10);
  }
  if (kvHeads > 1 && heads > kvHeads) {
    expect(worstError(y, attentionReference(c, q, k, v, scale, { moduloHeads: true }))).toBeGreaterThan(10);
  }
  if (tokens > 1) {
    expect(worstError(y, attentionReference(c, q, k, v, scale, { nonCausal: true }))).toBeGreaterThan(10);
  }
}

describe('kvWrite + attention', () => {
  it('(a) one decode token at position 0', async () => {
    await check({ heads: 4, kvHeads: 2, headDim: 64, tokens: 1, position0: 0 });
  });
  it('(b) one decode token at position 37 after earlier writes', async () => {
    await check({ heads: 8, kvHeads: 2, headDim: 64, tokens: 1, position0: 37, writes: [20, 1, 16] });
  });
  it('(b) the same recorded into one encoder', async () => {
    await check({ heads: 8, kvHeads: 2, headDim: 64, tokens: 1, position0: 37, writes: [20, 17], oneEncoder: true });
  });
  it('(c) prefill of 5 tokens at position 3 (causal)', async () => {
    await check({ heads: 4, kvHeads: 2, headDim: 64, tokens: 5, position0: 3 });
  });
  for (const headDim of [8, 64, 128]) {
    for (const group of [1, 4]) {
      const kvHeads = group === 1 ? 3 : 2;
      it(`(d) headDim ${headDim}, heads = ${group}·kvHeads, prefill across a tile boundary`, async () => {
        await check({ heads: group * kvHeads, kvHeads, headDim, tokens: 3, position0: 62, writes: [40, 22] });
      });
    }
  }
  it('(d) headDim 256 and an odd headDim 100, one kv head', async () => {
    await check({ heads: 2, kvHeads: 1, headDim: 256, tokens: 2, position0: 9 });
    await check({ heads: 3, kvHeads: 1, headDim: 100, tokens: 1, position0: 70 });
  });
});

describe('long context (flash-decoding splits)', () => {
  const long: Case = { heads: 4, kvHeads: 2, headDim: 64, tokens: 1, position0: 1499 };
  it('1500 positions with one split', async () => {
    await check({ ...long, splits: 1 });
  });
  it('1500 positions with the automatic split', async () => {
    expect(attentionSplits(1500, 4, 1)).toBeGreaterThan(1);
    await check(long);
  });
  it('1500 positions with 7 splits', async () => {
    await check({ ...long, splits: 7 });
  });
  it('more splits than positions of the early tokens (empty splits)', async () => {
    await check({ heads: 4, kvHeads: 2, headDim: 8, tokens: 4, position0: 2, splits: 7 });
  });
  it('automatic split: 1 for short contexts, capped at 32, none when the grid is already large', () => {
    expect(attentionSplits(256, 32, 1)).toBe(1);
    expect(attentionSplits(257, 32, 1)).toBe(2);
    expect(attentionSplits(100_000, 4, 1)).toBe(32);
    expect(attentionSplits(4096, 32, 512)).toBe(1);
  });
});

describe('arguments', () => {
  it('rejects bad arguments with a RangeError naming the field', () => {
    const buf = (floats: number): GPUBuffer => uploadBytes(device, new Float32Array(floats));
    const kv = { kvHeads: 2, headDim: 8, capacity: 10, kCache: buf(160), vCache: buf(160) };
    const w = { ...kv, k: buf(16), v: buf(16), tokens: 1, position0: 0 };
    const a = { ...kv, q: buf(64), out: buf(64), tokens: 2, heads: 4, position0: 0, scale: 0.35 };
    const throws = (f: () => void, field: RegExp): void => {
      expect(f).toThrow(RangeError);
      expect(f).toThrow(field);
    };
    throws(() => kvWrite(device, { ...w, position0: 10 }), /capacity/);
    throws(() => kvWrite(device, { ...w, position0: -1 }), /position0/);
    throws(() => kvWrite(device, { ...w, tokens: 0 }), /tokens/);
    throws(() => kvWrite(device, { ...w, k: buf(8) }), /^k /);
    throws(() => attention(device, { ...a, position0: 9 }), /capacity/);
    throws(() => attention(device, { ...a, heads: 3 }), /heads/);
    throws(() => attention(device, { ...a, headDim: 300 }), /headDim/);
    throws(() => attention(device, { ...a, splits: 0 }), /splits/);
    throws(() => attention(device, { ...a, splits: 1.5 }), /splits/);
    throws(() => attention(device, { ...a, scale: NaN }), /scale/);
    throws(() => attention(device, { ...a, out: buf(32) }), /out/);
    throws(() => attention(device, { ...a, vCache: buf(100) }), /vCache/);
  });
});

describe('pipeline cache', () => {
  it('one pipeline per kernel across shapes; the combine only with splits > 1', async () => {
    const fresh = await getDevice(false);
    await check({ heads: 2, kvHeads: 1, headDim: 8, tokens: 1, position0: 5, splits: 1 }, fresh);
    expect(pipelineCount(fresh)).toBe(2); // kv-write, attention
    await check({ heads: 6, kvHeads: 3, headDim: 32, tokens: 3, position0: 20, splits: 1 }, fresh);
    expect(pipelineCount(fresh)).toBe(2);
    await check({ heads: 4, kvHeads: 2, headDim: 16, tokens: 2, position0: 40, splits: 3 }, fresh);
    expect(pipelineCount(fresh)).toBe(3); // + attention-combine
    await check({ heads: 2, kvHeads: 2, headDim: 24, tokens: 1, position0: 90, splits: 5 }, fresh);
    expect(pipelineCount(fresh)).toBe(3);
    fresh.destroy();
  });
});
