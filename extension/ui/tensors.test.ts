import { describe, expect, it } from 'vitest';
import { agreement, isFreeDim, makeTensor, resolveDims, summarize } from './tensors';
import { checkModelHost } from './settings';
import { float32ToFloat16Bits } from '../quant/fp16';

describe('popup tensors', () => {
  it('free dimensions: strings and negatives are free, default 1, fixed ones kept', () => {
    expect(isFreeDim('batch')).toBe(true);
    expect(isFreeDim(-1)).toBe(true);
    expect(isFreeDim(3)).toBe(false);
    expect(resolveDims(['N', 3, 48, 'W'], [undefined, undefined, undefined, 80])).toEqual([1, 3, 48, 80]);
    expect(() => resolveDims(['N'], [0])).toThrow(/≥ 1/);
    expect(() => resolveDims(['N'], [1.5])).toThrow(/whole number/);
  });

  it('fills every type with its own array kind', () => {
    expect(makeTensor('float32', [2, 2], { kind: 'zeros' }).data).toEqual(new Float32Array(4));
    expect(makeTensor('int64', [3], { kind: 'constant', value: 7 }).data).toEqual(new BigInt64Array([7n, 7n, 7n]));
    expect(makeTensor('float16', [1], { kind: 'constant', value: 0.5 }).data).toEqual(
      new Uint16Array([float32ToFloat16Bits(0.5)]),
    );
    expect(makeTensor('bool', [2], { kind: 'json', text: '[true, 0]' }).data).toEqual(new Uint8Array([1, 0]));
    expect(makeTensor('int8', [2, 1], { kind: 'json', text: '[[-3], [4]]' }).data).toEqual(new Int8Array([-3, 4]));
  });

  it('random is seeded: the same seed gives the same values, another seed does not', () => {
    const a = makeTensor('float32', [64], { kind: 'random', seed: 1 }).data as Float32Array;
    const b = makeTensor('float32', [64], { kind: 'random', seed: 1 }).data as Float32Array;
    const c = makeTensor('float32', [64], { kind: 'random', seed: 2 }).data as Float32Array;
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...a)).toBeLessThan(1);
    const ids = makeTensor('int64', [64], { kind: 'random', seed: 1 }).data as BigInt64Array;
    expect([...ids].every((x) => x >= 0n && x < 100n)).toBe(true);
  });

  it('JSON input: wrong count, bad JSON and non-numbers are refused with the reason', () => {
    expect(() => makeTensor('float32', [3], { kind: 'json', text: '[1, 2]' })).toThrow(/2 values; the dims need 3/);
    expect(() => makeTensor('float32', [1], { kind: 'json', text: '[1,' })).toThrow(/not valid JSON/);
    expect(() => makeTensor('float32', [1], { kind: 'json', text: '["a"]' })).toThrow(/only numbers/);
    expect(() => makeTensor('string', [1], { kind: 'zeros' })).toThrow(/not one webq can send/);
    expect(() => makeTensor('float32', [1024, 1024, 17], { kind: 'zeros' })).toThrow(/64 MiB/);
  });

  it('summarises outputs (int64 and float16 included) and skips non-finite values in the statistics', () => {
    const s = summarize({ type: 'float32', dims: [4], data: new Float32Array([1, -2, NaN, 4]) }, 2);
    expect(s).toMatchObject({ count: 4, min: -2, max: 4, mean: 1, first: [1, -2], nonFinite: 1 });
    expect(summarize({ type: 'int64', dims: [2], data: new BigInt64Array([5n, -5n]) }).mean).toBe(0);
    expect(summarize({ type: 'float16', dims: [1], data: new Uint16Array([float32ToFloat16Bits(0.25)]) }).max).toBe(
      0.25,
    );
  });

  it('agreement: cosine and max abs diff', () => {
    const t = (xs: number[]) => ({ type: 'float32', data: new Float32Array(xs) });
    expect(agreement(t([1, 2, 3]), t([1, 2, 3]))).toEqual({ cosine: 1, maxAbsDiff: 0 });
    const r = agreement(t([1, 0]), t([0, 1]));
    expect(r.cosine).toBe(0);
    expect(r.maxAbsDiff).toBe(1);
    expect(agreement(t([0, 0]), t([0, 0])).cosine).toBe(1);
    expect(agreement(t([0, 0]), t([1, 0])).cosine).toBe(0);
    expect(() => agreement(t([1]), t([1, 2]))).toThrow(/differ in size/);
  });
});

describe('model host setting', () => {
  it('accepts https anywhere and http on loopback, normalised without a trailing slash', () => {
    expect(checkModelHost(' https://huggingface.co/ ')).toEqual({ ok: true, url: 'https://huggingface.co' });
    expect(checkModelHost('http://localhost:8080/models/')).toEqual({ ok: true, url: 'http://localhost:8080/models' });
    expect(checkModelHost('http://127.0.0.1:1/')).toEqual({ ok: true, url: 'http://127.0.0.1:1' });
    expect(checkModelHost('http://[::1]/m')).toEqual({ ok: true, url: 'http://[::1]/m' });
  });

  it('refuses other schemes, remote http, credentials, queries and non-URLs', () => {
    for (const bad of [
      'http://example.com',
      'ftp://127.0.0.1/',
      'file:///models',
      'https://u:p@example.com',
      'https://example.com/?q=1',
      'https://example.com/#x',
      'huggingface.co',
      '',
    ]) {
      expect(checkModelHost(bad).ok, bad).toBe(false);
    }
  });
});
