/**
 * The bridge's own copy (content/own-copy.ts). Firefox's Xray wrappers exist only in a real content script (the
 * e2e suites cross them: "every tensor type round-trips bit-exact" in firefox.test.ts); here a value with a
 * `wrappedJSObject` stands in for one, to check what each function makes of it.
 */
import { describe, expect, it } from 'vitest';
import { ownCopy } from '../../../extension/content/own-copy';

const wrapped = <T>(inner: T) => ({ wrappedJSObject: inner });

describe('ownCopy', () => {
  it('uses a value that has no wrapper as it is', () => {
    const value = { a: new Float32Array([1, 2]) };
    expect(ownCopy(value)).toBe(value);
  });

  it('clones the unwrapped value and leaves its arrays intact', () => {
    const inner = { message: { data: new BigInt64Array([1n, -2n]) } };
    const copy = ownCopy(wrapped(inner)) as typeof inner;
    expect(copy).not.toBe(inner);
    expect(copy.message.data).toEqual(new BigInt64Array([1n, -2n]));
    expect(inner.message.data.byteLength).toBe(16);
  });

  it('gives a copy the page cannot change afterwards', () => {
    const inner = { output: { y: { data: new Float32Array([3, 4, 5]) } } };
    const copy = ownCopy(wrapped(inner)) as typeof inner;
    inner.output.y.data[0] = 9;
    expect(copy.output.y.data).toEqual(new Float32Array([3, 4, 5]));
  });

  it('gives null for what cannot be cloned', () => {
    expect(ownCopy(wrapped({ f: () => 1 }))).toBeNull();
  });
});
