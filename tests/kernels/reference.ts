/**
 * CPU references for the kernel tests, written for clarity rather than speed: one element at a time, the
 * formulas of kernels/README.md spelled out with Math.fround wherever the definition says f32.
 */
import { blockSizeFor, packedShape, SEARCH_RATIOS } from '../../kernels/layout';
import type { Bits, QuantizeOptions, QuantizedWeight, Scheme } from '../../kernels/layout';

const f32 = Math.fround;

export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface Params {
  scale: number;
  zp: number;
}

export function qparams(bits: Bits, asymmetric: boolean, lo: number, hi: number, ratio: number): Params {
  const qmax = 2 ** bits - 1;
  const mid = 2 ** (bits - 1);
  if (!asymmetric) {
    const m = f32((-lo >= hi ? lo : hi) * ratio);
    return { scale: f32(m * f32(-1 / mid)), zp: mid };
  }
  const l = f32(Math.min(lo, 0) * ratio);
  const h = f32(Math.max(hi, 0) * ratio);
  const scale = f32(f32(h - l) * f32(1 / qmax));
  if (scale === 0) return { scale: 0, zp: 0 };
  return { scale, zp: Math.min(qmax, Math.max(0, roundHalfEven(f32(-l / scale)))) };
}

export function quantCode(bits: Bits, w: number, p: Params): number {
  if (p.scale === 0) return p.zp;
  return Math.min(2 ** bits - 1, Math.max(0, roundHalfEven(f32(w / p.scale)) + p.zp));
}

/** Codes [N][kBlocks * blockSize] (padding = zero point), scales and zero points [N][kBlocks]. */
export interface Unpacked {
  codes: Uint8Array[];
  scales: Float32Array;
  zps: Uint8Array;
  blockSize: number;
  kBlocks: number;
}

/** The elements of group (n, kb), or of the whole tensor per tensor. */
function groupValues(
  b: Float32Array,
  K: number,
  N: number,
  n: number,
  kb: number,
  blockSize: number,
  perTensor: boolean,
): number[] {
  if (perTensor) return Array.from(b);
  const out: number[] = [];
  for (let k = kb * blockSize; k < Math.min(K, (kb + 1) * blockSize); k++) out.push(b[k * N + n]!);
  return out;
}

function squaredError(bits: Bits, values: number[], p: Params): number {
  let e = 0;
  for (const w of values) e += (w - (quantCode(bits, w, p) - p.zp) * p.scale) ** 2;
  return e;
}

export function quantizeReference(b: Float32Array, K: number, N: number, o: QuantizeOptions): Unpacked {
  const blockSize = blockSizeFor(o.groupSize, K);
  const kBlocks = Math.ceil(K / blockSize);
  const asym = o.scheme === 'asymmetric';
  const search = o.scaleSearch ?? o.bits === 2;
  const scales = new Float32Array(N * kBlocks);
  const zps = new Uint8Array(N * kBlocks);
  const codes: Uint8Array[] = [];
  for (let n = 0; n < N; n++) {
    const row = new Uint8Array(kBlocks * blockSize);
    for (let kb = 0; kb < kBlocks; kb++) {
      const values = groupValues(b, K, N, n, kb, blockSize, o.groupSize === -1);
      const lo = Math.min(...values);
      const hi = Math.max(...values);
      let best = qparams(o.bits, asym, lo, hi, SEARCH_RATIOS[0]!);
      if (search) {
        let bestErr = squaredError(o.bits, values, best);
        for (const r of SEARCH_RATIOS.slice(1)) {
          const p = qparams(o.bits, asym, lo, hi, r);
          const e = squaredError(o.bits, values, p);
          if (e < bestErr) {
            best = p;
            bestErr = e;
          }
        }
      }
      scales[n * kBlocks + kb] = best.scale;
      zps[n * kBlocks + kb] = best.zp;
      for (let i = 0; i < blockSize; i++) {
        const k = kb * blockSize + i;
        row[k] = k < K ? quantCode(o.bits, b[k * N + n]!, best) : best.zp;
      }
    }
    codes.push(row);
  }
  return { codes, scales, zps, blockSize, kBlocks };
}

/** Pack per SPEC §7: element j of a byte at bit j*bits; zero points packed the same way per row. */
export function pack(u: Unpacked, bits: Bits, K: number, N: number, o: QuantizeOptions): QuantizedWeight {
  const s = packedShape(bits, K, N, u.blockSize);
  const per = 8 / bits;
  const data = new Uint8Array(s.dataBytes);
  u.codes.forEach((row, n) =>
    row.forEach((c, k) => {
      data[n * (s.dataBytes / N) + Math.floor(k / per)]! |= c << ((k % per) * bits);
    }),
  );
  let zeroPoints: Uint8Array | undefined;
  if (o.scheme === 'asymmetric') {
    zeroPoints = new Uint8Array(s.zpBytes);
    for (let n = 0; n < N; n++) {
      for (let kb = 0; kb < u.kBlocks; kb++) {
        zeroPoints[n * s.zpRowBytes + Math.floor(kb / per)]! |= u.zps[n * u.kBlocks + kb]! << ((kb % per) * bits);
      }
    }
  }
  return {
    bits,
    scheme: o.scheme,
    K,
    N,
    blockSize: u.blockSize,
    groupSize: o.groupSize,
    kBlocks: u.kBlocks,
    data,
    scales: u.scales,
    zeroPoints,
  };
}

/** Codes [N][kBlocks*blockSize] and zero points [N][kBlocks] read back from the packed form. */
export function unpack(q: QuantizedWeight): { codes: Uint8Array[]; zps: Uint8Array } {
  const s = packedShape(q.bits, q.K, q.N, q.blockSize);
  const per = 8 / q.bits;
  const mask = 2 ** q.bits - 1;
  const codes: Uint8Array[] = [];
  const zps = new Uint8Array(q.N * s.kBlocks);
  for (let n = 0; n < q.N; n++) {
    const row = new Uint8Array(s.kBlocks * q.blockSize);
    for (let k = 0; k < row.length; k++)
      row[k] = (q.data[n * (s.dataBytes / q.N) + Math.floor(k / per)]! >> ((k % per) * q.bits)) & mask;
    codes.push(row);
    for (let kb = 0; kb < s.kBlocks; kb++) {
      zps[n * s.kBlocks + kb] = q.zeroPoints
        ? (q.zeroPoints[n * s.zpRowBytes + Math.floor(kb / per)]! >> ((kb % per) * q.bits)) & mask
        : 2 ** (q.bits - 1);
    }
  }
  return { codes, zps };
}

/** fp32 B[K, N] = (q - zp) * scale. */
export function dequantizeReference(q: QuantizedWeight): Float32Array {
  const { codes, zps } = unpack(q);
  const out = new Float32Array(q.K * q.N);
  for (let n = 0; n < q.N; n++) {
    for (let k = 0; k < q.K; k++) {
      const kb = Math.floor(k / q.blockSize);
      out[k * q.N + n] = (codes[n]![k]! - zps[n * q.kBlocks + kb]!) * q.scales[n * q.kBlocks + kb]!;
    }
  }
  return out;
}

/** Y[M, N] = A · B (+ bias) in float64, plus Σ|a·b| per output for an error bound. */
export function matmulReference(
  a: Float32Array | Float64Array,
  b: Float32Array,
  M: number,
  K: number,
  N: number,
  bias?: Float32Array,
) {
  const y = new Float64Array(M * N);
  const mag = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = bias ? bias[n]! : 0;
      let g = bias ? Math.abs(bias[n]!) : 0;
      for (let k = 0; k < K; k++) {
        const t = a[m * K + k]! * b[k * N + n]!;
        s += t;
        g += Math.abs(t);
      }
      y[m * N + n] = s;
      mag[m * N + n] = g;
    }
  }
  return { y, mag };
}

/** Deterministic test data: a seeded PRNG (mulberry32) and roughly normal weights with a few outliers. */
export function rng(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r ^= r + Math.imul(r ^ (r >>> 7), 61 | r);
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in (−scale, scale), seeded. */
export function uniformRandoms(count: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: count }, () => (r() * 2 - 1) * scale);
}

export function randomWeights(count: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const normal = (r() + r() + r() + r() - 2) * 0.05; // Irwin–Hall ≈ N(0, 0.029²)
    out[i] = r() < 0.01 ? normal * 8 : normal; // outliers make blocks differ in range
  }
  return out;
}

const WIDTHS: readonly Bits[] = [2, 4, 8];
const SCHEMES: readonly Scheme[] = ['symmetric', 'asymmetric'];

/**
 * The (bits, scheme, case) triples a kernel test runs. On SwiftShader each triple costs about a second, nearly all
 * of it compiling its shader variant, so by default every pair is covered rather than every triple: each case at
 * every width, each case in both schemes, each width in both schemes (the scheme alternates with case and width),
 * half the product. `WEBQ_KERNELS_MATRIX=full` runs the whole product, as before a kernel change lands.
 */
export function widthMatrix<C>(cases: readonly C[]): { bits: Bits; scheme: Scheme; c: C }[] {
  if (cases.length < 2) throw new Error('widthMatrix needs two cases or more to cover both schemes at each width');
  const full = process.env.WEBQ_KERNELS_MATRIX === 'full';
  return WIDTHS.flatMap((bits, b) =>
    SCHEMES.flatMap((scheme, s) =>
      cases.filter((_c, i) => full || (i + b) % 2 === s).map((c) => ({ bits, scheme, c })),
    ),
  );
}
