/**
 * Bit packing of MatMulNBits (SPEC §7): codes are unsigned, stored low bits first in each byte, so
 * at 4 bits element 0 is byte & 0x0f and element 1 is byte >> 4; at 2 bits element j of a byte
 * sits at bits 2j..2j+1. 2, 4 and 8 divide 8, so no code straddles two bytes.
 */
import type { Bits } from './types';

/** Writes code `q` as element `index` of the packed run starting at byte `offset`. */
export function writeCode(out: Uint8Array, offset: number, index: number, q: number, bits: Bits): void {
  const bit = index * bits;
  const byte = offset + (bit >> 3);
  const shift = bit & 7;
  const mask = ((1 << bits) - 1) << shift;
  out[byte] = (out[byte]! & ~mask) | ((q << shift) & mask);
}

export function readCode(data: Uint8Array, offset: number, index: number, bits: Bits): number {
  const bit = index * bits;
  return (data[offset + (bit >> 3)]! >> (bit & 7)) & ((1 << bits) - 1);
}

export function packCodes(codes: ArrayLike<number>, bits: Bits): Uint8Array {
  const out = new Uint8Array(Math.ceil((codes.length * bits) / 8));
  for (let i = 0; i < codes.length; i++) writeCode(out, 0, i, codes[i]!, bits);
  return out;
}

export function unpackCodes(data: Uint8Array, count: number, bits: Bits): Uint8Array {
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) out[i] = readCode(data, 0, i, bits);
  return out;
}
