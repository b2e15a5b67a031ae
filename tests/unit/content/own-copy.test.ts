/**
 * The bridge's own copies (content/own-copy.ts). Firefox's Xray wrappers exist only in a real content script (the
 * e2e suites cross them: "every tensor type round-trips bit-exact" in firefox.test.ts); here a value with a
 * `wrappedJSObject` stands in for one, to check what each function makes of it.
 */
import { describe, expect, it } from 'vitest';
import { ownCopy, ownMoved } from '../../../extension/content/own-copy';

const wrapped = <T>(inner: T) => ({ wrappedJSObject: inner });

describe('ownCopy / ownMoved', () => {
  it('use a value that has no wrapper as it is', () => {
    const value = { a: new Float32Array([1, 2]) };
    expect(ownCopy(value)).toBe(value);
    expect(ownMoved(value)).toBe(value);
  });

  it('ownCopy clones the unwrapped value and leaves its arrays intact', () => {
    const inner = { message: { data: new BigInt64Array([1n, -2n]) } };
    const copy = ownCopy(wrapped(inner)) as typeof inner;
    expect(copy).not.toBe(inner);
    expect(copy.message.data).toEqual(new BigInt64Array([1n, -2n]));
    expect(inner.message.data.byteLength).toBe(16);
  });

  it('ownMoved moves the arrays into the copy (nothing else holds them)', () => {
    const inner = { output: { y: { data: new Float32Array([3, 4, 5]) } } };
    const moved = ownMoved(wrapped(inner)) as typeof inner;
    expect(moved.output.y.data).toEqual(new Float32Array([3, 4, 5]));
    expect(inner.output.y.data.byteLength).toBe(0); // detached: moved, not copied
  });

  it('give null for what cannot be cloned', () => {
    expect(ownCopy(wrapped({ f: () => 1 }))).toBeNull();
    expect(ownMoved(wrapped({ f: () => 1 }))).toBeNull();
  });
});
