/**
 * Small typed helpers that generate the WGSL shared by the kernels: constants of a bit width, unpacking
 * codes from a u32 word, reading a packed zero point, the linear invocation index of a 2-D dispatch.
 * Each returns a self-contained WGSL snippet; kernels compose them instead of pasting strings together.
 */
import type { Bits } from './layout';

/** Constants of one bit width: BITS, MASK, CPW (codes per u32 word), QMAX, MID (symmetric zero point). */
export function bitsConstants(bits: Bits): string {
  return `
const BITS: u32 = ${bits}u;
const MASK: u32 = ${(1 << bits) - 1}u;
const CPW: u32 = ${32 / bits}u;
const QMAX: f32 = ${(1 << bits) - 1}.0;
const MID: f32 = ${1 << (bits - 1)}.0;`;
}

/**
 * `code_at(word, j)`: the j-th code of a word (element j sits at bit j*bits: bytes are little-endian in the
 * word and codes are low-bits-first in each byte, so the two orders agree). `codes4(word, j)`: codes j..j+3.
 */
export function unpackFns(): string {
  return `
fn code_at(word: u32, j: u32) -> u32 { return (word >> (j * BITS)) & MASK; }
fn codes4(word: u32, j: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(word) >> ((vec4<u32>(0u, 1u, 2u, 3u) + j) * BITS)) & vec4<u32>(MASK));
}`;
}

/**
 * `codes4m(word, shift)`: codes at bits shift, shift+BITS, shift+2·BITS, shift+3·BITS of a word, each as the f32
 * 2^23 + code (the code ORed into the mantissa of 2^23: no integer-to-float conversion, which GPUs run at a
 * fraction of the FMA rate). Subtracting `MAGIC + zp` gives code − zp exactly (all values are integers < 2^24).
 * With a constant `shift` (the kernels unroll their loops) this is a shift, a mask-or and a subtract per code.
 */
export function magicCodesFns(): string {
  return `
const MAGIC: f32 = 8388608.0; // 2^23
fn codes4m(word: u32, shift: u32) -> vec4<f32> {
  let q = (vec4<u32>(word) >> (vec4<u32>(0u, 1u, 2u, 3u) * BITS + vec4<u32>(shift))) & vec4<u32>(MASK);
  return bitcast<vec4<f32>>(q | vec4<u32>(0x4b000000u));
}`;
}

/**
 * `zero_point(n, kb) -> f32`: the zero point of block kb of column n. Asymmetric weights read it from the
 * packed `zero_points` array (rows of `u.zp_row_bytes` bytes, not word-aligned, hence the byte arithmetic);
 * symmetric weights use the implied 2^(bits-1).
 */
export function zeroPointFn(asymmetric: boolean): string {
  if (!asymmetric) return `fn zero_point(n: u32, kb: u32) -> f32 { return MID; }`;
  return `
fn zero_point(n: u32, kb: u32) -> f32 {
  let byte_index = n * u.zp_row_bytes + (kb * BITS) / 8u;
  let zp_byte = (zero_points[byte_index / 4u] >> ((byte_index % 4u) * 8u)) & 0xffu;
  return f32((zp_byte >> ((kb % (8u / BITS)) * BITS)) & MASK);
}`;
}

/**
 * `a_at(row, k) -> vec4<f32>`: A[row + k … row + k + 3] (row = m·K), zero past K. With `vec4A` (K % 4 == 0) A is
 * bound as `a4: array<vec4<f32>>` and one vec4 is either inside the row or wholly past K; else as `a: array<f32>`.
 */
export function activationReadFn(vec4A: boolean): string {
  if (vec4A) {
    return `
fn a_at(row: u32, k: u32) -> vec4<f32> {
  if (k < u.K) { return a4[(row + k) / 4u]; }
  return vec4<f32>(0.0);
}`;
  }
  return `
fn a1(row: u32, k: u32) -> f32 { return select(0.0, a[row + min(k, u.K - 1u)], k < u.K); }
fn a_at(row: u32, k: u32) -> vec4<f32> { return vec4<f32>(a1(row, k), a1(row, k + 1u), a1(row, k + 2u), a1(row, k + 3u)); }`;
}

/** 0 … n − 1, for the kernels' unrolled code generation. */
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * The storage bindings of a quantized matmul, in the order `matmulBuffers` (weights.ts) binds them: 1 A (`a4` as
 * vec4s when `vec4A`, else `a`), 2 the packed words `data` (as `dataType`), 3 `scales`, 4 the output (`out`), then
 * `zero_points` when asymmetric and `bias` when there is one. Binding 0 is the kernel's uniforms.
 */
export function matmulBindings(
  v: { vec4A: boolean; asymmetric: boolean; bias: boolean },
  out: string,
  dataType = 'array<u32>',
): string {
  return [
    storage(1, v.vec4A ? 'a4' : 'a', v.vec4A ? 'array<vec4<f32>>' : 'array<f32>'),
    storage(2, 'data', dataType),
    storage(3, 'scales', 'array<f32>'),
    storage(4, out, 'array<f32>', 'read_write'),
    v.asymmetric ? storage(5, 'zero_points', 'array<u32>') : '',
    v.bias ? storage(v.asymmetric ? 6 : 5, 'bias', 'array<f32>') : '',
  ].join('\n');
}

/** A storage binding declaration. */
export function storage(binding: number, name: string, type: string, access: 'read' | 'read_write' = 'read'): string {
  return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: ${type};`;
}

/** A uniform struct `U` bound as `u`, all fields u32 (f32 fields are not needed by any kernel). */
export function uniforms(binding: number, fields: readonly string[]): string {
  return `struct U { ${fields.map((f) => `${f}: u32,`).join(' ')} }
@group(0) @binding(${binding}) var<uniform> u: U;`;
}

/**
 * Linear index of an invocation in a dispatch of [x, y] workgroups of `size` threads, so that more than
 * 65535 workgroups' worth of elements can be covered (see `dispatchLinear`).
 */
export function linearIndexFn(size: number): string {
  return `
const LINEAR_WG: u32 = ${size}u;
fn linear_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * LINEAR_WG; }`;
}

/** Workgroup counts [x, y] covering `count` invocations of `size` threads, each dimension <= 65535. */
export function dispatchLinear(count: number, size: number): [number, number] {
  const groups = Math.max(1, Math.ceil(count / size));
  if (groups <= 65535) return [groups, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y];
}
