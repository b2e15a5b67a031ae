import { describe, expect, test } from 'vitest';
import { float16BitsToFloat32, float32ToFloat16Bits, fromFloat16, toFloat16 } from './fp16';

describe('fp16 conversion', () => {
  test.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff],
    [-0, 0x8000],
    [0, 0x0000],
    [2 ** -14, 0x0400],
    [2 ** -24, 0x0001],
    [1023 * 2 ** -24, 0x03ff],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ])('%f → 0x%s', (value, bits) => {
    expect(float32ToFloat16Bits(value)).toBe(bits);
  });

  test('round to nearest, ties to even, carries into the exponent', () => {
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even mantissa 0
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even mantissa 2
    expect(float32ToFloat16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie
    expect(float32ToFloat16Bits(2 - 2 ** -12)).toBe(0x4000); // mantissa overflow bumps the exponent
    expect(float32ToFloat16Bits(65519)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00); // the first value that rounds to inf
    expect(float32ToFloat16Bits(1e10)).toBe(0x7c00);
  });

  test('subnormals and underflow', () => {
    expect(float32ToFloat16Bits(2 ** -25)).toBe(0); // exactly half the smallest subnormal: tie → 0
    expect(float32ToFloat16Bits(1.5 * 2 ** -25)).toBe(1);
    expect(float32ToFloat16Bits(3 * 2 ** -25)).toBe(2); // 1.5 ulp: tie → even 2
    expect(float32ToFloat16Bits(-(2 ** -30))).toBe(0x8000); // underflow keeps the sign
    expect(float32ToFloat16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up into the smallest normal
    expect(float16BitsToFloat32(0x0001)).toBe(2 ** -24);
    expect(float16BitsToFloat32(0x8001)).toBe(-(2 ** -24));
  });

  test('NaN stays NaN', () => {
    const bits = float32ToFloat16Bits(NaN);
    expect(bits & 0x7c00).toBe(0x7c00);
    expect(bits & 0x3ff).not.toBe(0);
    expect(Number.isNaN(float16BitsToFloat32(bits))).toBe(true);
    // A NaN whose payload sits only in the dropped low bits must not become inf.
    const f = new Float32Array(new Uint32Array([0x7f800001]).buffer)[0]!;
    expect(float32ToFloat16Bits(f) & 0x3ff).not.toBe(0);
  });

  test('every fp16 value survives fp16 → fp32 → fp16', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const back = toFloat16(fromFloat16(all));
    const isNaN = (i: number) => (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
    expect(all.filter((i) => !isNaN(i) && back[i] !== i).length).toBe(0);
  });

  test('lands on the nearest fp16 value for random floats across the whole range', () => {
    // Positive finite fp16 values ascend with their bit patterns, so the neighbours of v are found by
    // binary search; the result must be the closer one (ties: the one with an even mantissa).
    const finite = Float64Array.from({ length: 0x7c00 }, (_, i) => float16BitsToFloat32(i));
    let x = 12345;
    for (let t = 0; t < 5000; t++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      const v = Math.fround((x / 2 ** 31) * 2 ** ((t % 40) - 26));
      let lo = 0,
        hi = 0x7bff;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (finite[mid]! <= v) lo = mid;
        else hi = mid;
      }
      const dLo = v - finite[lo]!,
        dHi = finite[hi]! - v;
      const expected = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
      expect(float32ToFloat16Bits(v)).toBe(expected);
    }
  });
});
