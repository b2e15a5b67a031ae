import { describe, expect, it } from 'vitest';
import { Joiner, toPieces } from '../../../extension/shared/pieces';

describe('messages in pieces', () => {
  it('passes small messages through untouched', () => {
    const m = { type: 'request', id: 'a', data: new Float32Array(10) };
    const out = toPieces(m);
    expect(out).toEqual([m]);
    expect(new Joiner(1e9).accept(out[0])).toEqual({ message: m });
  });

  it('splits a 64 MiB message into ≤ 16 MiB pieces and joins it back bit-exact, arrays of several kinds', () => {
    const big = new Float32Array(16 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 997) big[i] = i * 0.5;
    const ints = new BigInt64Array([1n, -2n, 9223372036854775807n]);
    const message = {
      type: 'request',
      id: 'r1',
      params: {
        input: { tensors: { a: { data: big, dims: [big.length] }, b: { data: ints } } },
        list: [new Uint8Array([1, 2, 3]), 'x'],
      },
    };
    const pieces = toPieces(message);
    expect(pieces.length).toBe(1 + 5); // 64 MiB + 27 bytes → five pieces
    for (const p of pieces.slice(1))
      expect((p as { data: Uint8Array }).data.byteLength).toBeLessThanOrEqual(16 * 1024 * 1024);
    const joiner = new Joiner(65 * 1024 * 1024);
    let whole: { message: unknown } | null = null;
    for (const p of pieces) whole = joiner.accept(p);
    const m = whole!.message as typeof message;
    const a = m.params.input.tensors.a.data;
    expect(a).toBeInstanceOf(Float32Array);
    expect(a.length).toBe(big.length);
    for (let i = 0; i < big.length; i += 997) expect(a[i]).toBe(i * 0.5);
    expect(m.params.input.tensors.b.data).toEqual(ints);
    expect(m.params.list).toEqual([new Uint8Array([1, 2, 3]), 'x']);
    expect(m.params.input.tensors.a.dims).toEqual([big.length]);
  });

  it('drops a pieced message that declares more than the limit, or whose pieces do not match', () => {
    const pieces = toPieces({ data: new Uint8Array(49 * 1024 * 1024) });
    const small = new Joiner(10 * 1024 * 1024);
    expect(pieces.map((p) => small.accept(p))).toEqual(pieces.map(() => null));
    const j = new Joiner(1e9);
    expect(j.accept({ type: 'webq-piece', cid: 'nope', data: new Uint8Array(4) })).toBeNull();
    expect(
      j.accept({ type: 'webq-pieces', cid: 'c', skeleton: {}, arrays: [{ kind: 'Function', bytes: 4 }], pieces: 1 }),
    ).toBeNull();
    // After garbage, an ordinary message still goes through.
    expect(j.accept({ type: 'request', id: 'ok' })).toEqual({ message: { type: 'request', id: 'ok' } });
  });
});
