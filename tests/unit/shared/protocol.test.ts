import { describe, expect, it } from 'vitest';
import { validateClientMessage, validateHostMessage } from '../../../extension/shared/protocol';
import { toHalfBits, toTensor } from '../../../extension/shared/tensor';
import { fromWireError, toWireError, WebqError } from '../../../extension/shared/errors';

const reject = (raw: unknown) => {
  try {
    validateClientMessage(raw);
    return 'ok';
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
};
const tensors = (t: Record<string, unknown>) => ({ kind: 'tensors', tensors: t });

describe('client messages', () => {
  it('rebuilds a valid run request from checked fields only', () => {
    const data = new Float32Array(6);
    const m = validateClientMessage({
      type: 'request',
      id: 'abc-1',
      method: 'run',
      progress: true,
      extra: 'dropped',
      params: {
        model: 'https://example.com/m.onnx',
        input: tensors({ x: { type: 'float32', dims: [2, 3], data } }),
        options: { backend: 'wasm' },
      },
    });
    expect(m).toEqual({
      type: 'request',
      id: 'abc-1',
      method: 'run',
      progress: true,
      params: {
        model: 'https://example.com/m.onnx',
        input: { kind: 'tensors', tensors: { x: { type: 'float32', dims: [2, 3], data } } },
        options: { backend: 'wasm' },
      },
    });
    expect(
      (m as unknown as { params: { input: { tensors: { x: { data: unknown } } } } }).params.input.tensors.x.data,
    ).toBe(data); // no copy
  });

  it("keeps the bridge's gesture stamp only as the boolean true", () => {
    const base = { type: 'request', id: 'g1', method: 'capabilities', params: {} };
    expect(validateClientMessage({ ...base, gesture: true })).toEqual({ ...base, progress: false, gesture: true });
    expect(validateClientMessage({ ...base, gesture: 'yes' })).toEqual({ ...base, progress: false });
    expect(validateClientMessage({ ...base, gesture: false })).toEqual({ ...base, progress: false });
  });

  it.each([
    [null, /message must be an object/],
    [{ type: 'request', id: 'a b', method: 'run' }, /message id/],
    [{ type: 'request', id: 'x'.repeat(65), method: 'run' }, /message id/],
    [{ type: 'hello', id: 'a' }, /type must be/],
    [{ type: 'request', id: 'a', method: 'constructor' }, /unknown method/],
    [{ type: 'request', id: 'a', method: 'run', params: [] }, /params must be an object/],
    [{ type: 'request', id: 'a', method: 'run', params: { model: 'x', input: tensors({}) } }, /no tensors/],
    [
      {
        type: 'request',
        id: 'a',
        method: 'run',
        params: { model: 'x', input: tensors({ x: { type: 'float32', dims: [3], data: new Float32Array(2) } }) },
      },
      /12 bytes, but data holds 8/,
    ],
    [
      {
        type: 'request',
        id: 'a',
        method: 'run',
        params: { model: 'x', input: tensors({ x: { type: 'int64', dims: [1], data: new Float64Array(1) } }) },
      },
      /BigInt64Array/,
    ],
    [
      {
        type: 'request',
        id: 'a',
        method: 'run',
        params: { model: 'x', input: tensors({ x: { type: 'float32', dims: [1, -1], data: new Float32Array(1) } }) },
      },
      /dims\[1\]/,
    ],
    [
      {
        type: 'request',
        id: 'a',
        method: 'run',
        params: {
          model: 'x',
          input: tensors({ x: { type: 'float32', dims: Array(9).fill(1), data: new Float32Array(1) } }),
        },
      },
      /rank 9/,
    ],
    [
      {
        type: 'request',
        id: 'a',
        method: 'run',
        params: { model: 'x', input: { kind: 'audio', audio: new Float32Array(4), sampleRate: 44100.5 } },
      },
      /sampleRate/,
    ],
    [
      { type: 'request', id: 'a', method: 'run', params: { model: 'x', input: { kind: 'text', text: [1] } } },
      /input text/,
    ],
    [
      {
        type: 'request',
        id: 'a',
        method: 'run',
        params: {
          model: 'x',
          input: { kind: 'image', images: [{ width: 2, height: 2, data: new Uint8ClampedArray(15) }] },
        },
      },
      /RGBA/,
    ],
    [{ type: 'request', id: 'a', method: 'run', params: { model: 'x', input: { kind: 'video' } } }, /input kind/],
    [{ type: 'request', id: 'a', method: 'load', params: { model: { url: 'x', sha256: 'zz' } } }, /sha256/],
    [{ type: 'request', id: 'a', method: 'load', params: { model: { url: 'x', proto: 1 } } }, /unknown field "proto"/],
    [{ type: 'request', id: 'a', method: 'load', params: { model: '' } }, /registry id or a URL/],
    [{ type: 'request', id: 'a', method: 'load', params: { model: 'x', options: { bits: 5 } } }, /option bits/],
  ])('rejects %#: %s', (raw, message) => {
    const r = reject(raw);
    expect(r).toMatch(/^DataError: /);
    expect(r).toMatch(message);
  });

  it('refuses more than 64 MiB of tensors with QuotaExceededError', () => {
    const half = new Uint8Array(32 * 1024 * 1024 + 1);
    expect(
      reject({
        type: 'request',
        id: 'a',
        method: 'run',
        params: {
          model: 'x',
          input: tensors({
            a: { type: 'uint8', dims: [half.length], data: half },
            b: { type: 'uint8', dims: [half.length], data: half },
          }),
        },
      }),
    ).toMatch(/^QuotaExceededError: .*64 MiB/);
  });

  it('accepts abort with only an id', () => {
    expect(validateClientMessage({ type: 'abort', id: 'r9', params: 'ignored' })).toEqual({ type: 'abort', id: 'r9' });
  });
});

describe('host messages', () => {
  it('keeps valid progress, results and errors; drops the rest', () => {
    expect(
      validateHostMessage({ type: 'progress', id: 'a', progress: { phase: 'download', loaded: 1, total: 2, x: 1 } }),
    ).toEqual({ type: 'progress', id: 'a', progress: { phase: 'download', loaded: 1, total: 2 } });
    expect(validateHostMessage({ type: 'error', id: 'a', error: { name: 'DataError', message: 'm' } })).toEqual({
      type: 'error',
      id: 'a',
      error: { name: 'DataError', message: 'm' },
    });
    expect(validateHostMessage({ type: 'error', id: 'a', error: { name: 'EvilError', message: 'm' } })).toBeNull();
    expect(
      validateHostMessage({ type: 'progress', id: 'a', progress: { phase: 'mine', loaded: 1, total: 1 } }),
    ).toBeNull();
    expect(validateHostMessage('x')).toBeNull();
  });
});

describe('tensors from the page', () => {
  it('converts number[] per type and checks counts', () => {
    expect(toTensor({ type: 'int64', data: [1, -2], dims: [2] }, 'x').data).toEqual(new BigInt64Array([1n, -2n]));
    expect(toTensor({ type: 'bool', data: [true, 0, 1], dims: [3] }, 'x').data).toEqual(new Uint8Array([1, 0, 1]));
    expect(() => toTensor({ type: 'float32', data: [1, 2], dims: [3] }, 'x')).toThrow(
      /2 elements but dims \[3\] need 3/,
    );
    expect(() => toTensor({ type: 'float32', data: [1, 'a'], dims: [2] }, 'x')).toThrow(/x.data\[1\]/);
  });

  it('rounds float16 to nearest even, with infinities, NaN and subnormals', () => {
    expect([1, -2, 0.5, 65504, 65520, 1e-8, 5.960464477539063e-8, Infinity, -0].map(toHalfBits)).toEqual([
      0x3c00, 0xc000, 0x3800, 0x7bff, 0x7c00, 0x0000, 0x0001, 0x7c00, 0x8000,
    ]);
    expect(toHalfBits(NaN) & 0x7c00).toBe(0x7c00);
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });
});

describe('errors across hops', () => {
  it('keep their SPEC name; unknown failures become OperationError', () => {
    expect(fromWireError(toWireError(new WebqError('NotFoundError', 'gone')))).toMatchObject({
      name: 'NotFoundError',
      message: 'gone',
    });
    expect(toWireError(new TypeError('boom'))).toEqual({ name: 'OperationError', message: 'TypeError: boom' });
    expect(toWireError('str')).toEqual({ name: 'OperationError', message: 'str' });
  });
});
