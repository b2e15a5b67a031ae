/**
 * The MatMulNBits layout (SPEC §7; the format is described in extension/quant/types.ts) as types, and the pure
 * (CPU-side) facts every kernel needs: the blockSize a group size maps to, and the byte/word sizes of the packed
 * buffers. Kept free of GPU code so the CPU references in tests, the quantizer and the kernels agree on one
 * definition; the quantizer imports these types from here.
 */

export type Bits = 2 | 4 | 8;
export type Scheme = 'symmetric' | 'asymmetric';

/** Elements per scale: a power of two >= 16, 0 = per output channel, -1 = per tensor (SPEC §2). */
export type GroupSize = number;

export interface QuantizeOptions {
  bits: Bits;
  scheme: Scheme;
  groupSize: GroupSize;
  /**
   * Per-block clipping search that minimises the block's reconstruction error instead of plain
   * round-to-nearest over the full range. Default: on at 2 bits, off at 4 and 8.
   */
  scaleSearch?: boolean;
}

/** What describes a quantized weight wherever its bytes live (CPU arrays here, GPU buffers in weights.ts). */
export interface QuantizedShape {
  bits: Bits;
  scheme: Scheme;
  /** Rows of the original B (input features). */
  K: number;
  /** Columns of the original B (output features). */
  N: number;
  /** MatMulNBits block_size attribute actually used (a power of two >= 16). */
  blockSize: number;
  /** The group size that was asked for (0 per-channel, -1 per-tensor, else equals blockSize). */
  groupSize: GroupSize;
  kBlocks: number;
}

export interface QuantizedWeight extends QuantizedShape {
  data: Uint8Array;
  scales: Float32Array;
  /** Present for asymmetric; symmetric implies 2^(bits-1). */
  zeroPoints?: Uint8Array;
}

/** Smallest power of two >= x. */
export function nextPow2(x: number): number {
  let p = 1;
  while (p < x) p *= 2;
  return p;
}

/**
 * The MatMulNBits block_size used for a group size (kernels/README.md): the group size itself when it is a
 * block size, else one block spanning all of K (per channel and per tensor; per tensor also shares the scale).
 */
export function blockSizeFor(groupSize: GroupSize, K: number): number {
  if (groupSize === 0 || groupSize === -1) return Math.max(16, nextPow2(K));
  if (!Number.isInteger(groupSize) || groupSize < 16 || nextPow2(groupSize) !== groupSize) {
    throw new RangeError(
      `groupSize must be a power of two >= 16, 0 (per channel) or -1 (per tensor); got ${groupSize}`,
    );
  }
  return groupSize;
}

export interface PackedShape {
  bits: Bits;
  K: number;
  N: number;
  blockSize: number;
  kBlocks: number;
  /** Codes in one u32 word (the kernels read the byte layout four bytes at a time). */
  codesPerWord: number;
  /** u32 words of one output column n (all its blocks); blocks are whole words since blockSize >= 16. */
  wordsPerColumn: number;
  wordsPerBlock: number;
  dataBytes: number;
  /** Bytes of one row of zero points: ceil(kBlocks * bits / 8). */
  zpRowBytes: number;
  zpBytes: number;
}

export function packedShape(bits: Bits, K: number, N: number, blockSize: number): PackedShape {
  if (![2, 4, 8].includes(bits)) throw new RangeError(`bits must be 2, 4 or 8; got ${bits}`);
  if (!(K >= 1 && N >= 1 && Number.isInteger(K) && Number.isInteger(N)))
    throw new RangeError(`bad shape K=${K} N=${N}`);
  if (blockSize < 16 || nextPow2(blockSize) !== blockSize)
    throw new RangeError(`blockSize must be a power of two >= 16; got ${blockSize}`);
  const kBlocks = Math.ceil(K / blockSize);
  const codesPerWord = 32 / bits;
  const wordsPerBlock = blockSize / codesPerWord;
  const zpRowBytes = Math.ceil((kBlocks * bits) / 8);
  return {
    bits,
    K,
    N,
    blockSize,
    kBlocks,
    codesPerWord,
    wordsPerBlock,
    wordsPerColumn: kBlocks * wordsPerBlock,
    dataBytes: N * kBlocks * wordsPerBlock * 4,
    zpRowBytes,
    zpBytes: N * zpRowBytes,
  };
}

/** GPU buffers must be a multiple of 4 bytes long. */
export const align4 = (bytes: number): number => Math.ceil(bytes / 4) * 4;

/** The clipping ratios of the scale search: f32(1 - i/20), i = 0..9 (kernels/README.md). */
export const SEARCH_RATIOS: readonly number[] = Object.freeze(
  Array.from({ length: 10 }, (_, i) => Math.fround(1 - i / 20)),
);
