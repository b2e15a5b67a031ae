/**
 * The decoder's elementwise and reduction kernels (rms-norm, add, silu-mul, rope, embedding, argmax, head-rows)
 * against float64 CPU references on random data of odd sizes (dims not multiples of 4 or 64, a single row and
 * several), with relative bounds a wrong formula would exceed; the RangeError of a bad argument of each; one
 * pipeline per kernel across shapes; and rmsNorm, siluMul and argmax against onnxruntime-node's CPU evaluation of
 * the ONNX ops a model exports (SimplifiedLayerNormalization, Sigmoid·Mul·Mul, ArgMax).
 */
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  addInPlace,
  argmax,
  createStorage,
  gatherRows,
  matvecRows,
  pipelineCount,
  readBytes,
  readFloats,
  rmsNorm,
  rope,
  siluMul,
  siluMulRows,
  uploadBytes,
} from '../../kernels/index';
import { getDevice, noGpuErrors } from './gpu';
import { uniformRandoms as randoms } from './reference';

let device: GPUDevice;
beforeAll(async () => {
  device = await getDevice(false);
});

const upload = (data: Float32Array | Uint32Array): GPUBuffer => uploadBytes(device, data);

/** Largest |got − want| / bound over all elements (≤ 1 passes). */
function worstRatio(got: Float32Array, want: ArrayLike<number>, bound: (i: number) => number): number {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= bound(i))) worst = Math.max(worst, Number.isNaN(err) ? Infinity : err / bound(i));
  }
  return worst;
}

async function readU32(buffer: GPUBuffer, count: number): Promise<Uint32Array> {
  const bytes = await readBytes(device, buffer, count * 4);
  return new Uint32Array(bytes.buffer, bytes.byteOffset, count);
}

describe('rmsNorm', () => {
  const cases = [
    { rows: 1, dim: 1, eps: 1e-6 },
    { rows: 1, dim: 896, eps: 1e-6 },
    { rows: 5, dim: 67, eps: 0.1 }, // eps large enough that leaving it out fails
    { rows: 3, dim: 1001, eps: 1e-5 },
  ];
  for (const { rows, dim, eps } of cases) {
    it(`rows=${rows} dim=${dim} eps=${eps}`, async () => {
      const x = randoms(rows * dim, rows * 31 + dim, 3);
      const w = randoms(dim, dim + 7, 2);
      const ref = new Float64Array(rows * dim);
      const mag = new Float64Array(rows * dim);
      for (let r = 0; r < rows; r++) {
        let ss = 0;
        for (let d = 0; d < dim; d++) ss += x[r * dim + d]! ** 2;
        const rms = Math.sqrt(ss / dim + Math.fround(eps));
        for (let d = 0; d < dim; d++) {
          ref[r * dim + d] = (x[r * dim + d]! / rms) * w[d]!;
          mag[r * dim + d] = Math.abs(ref[r * dim + d]!);
        }
      }
      const y = await noGpuErrors(device, async () => {
        const out = createStorage(device, rows * dim * 4);
        rmsNorm(device, { x: upload(x), weight: upload(w), y: out, rows, dim, eps });
        return readFloats(device, out, rows * dim);
      });
      expect(worstRatio(y, ref, (i) => 1e-5 * mag[i]! + 1e-7)).toBeLessThanOrEqual(1);
    });
  }
  it('rejects a bad argument', () => {
    const x = upload(randoms(8, 1));
    const args = { x, weight: upload(randoms(4, 2)), y: createStorage(device, 32), rows: 2, dim: 4, eps: 1e-6 };
    expect(() => rmsNorm(device, { ...args, dim: 0 })).toThrow(/dim/);
    expect(() => rmsNorm(device, { ...args, rows: 3 })).toThrow(RangeError); // x too small
    expect(() => rmsNorm(device, { ...args, y: x })).toThrow(RangeError);
    expect(() => rmsNorm(device, { ...args, eps: -1 })).toThrow(/eps/);
  });
});

describe('addInPlace', () => {
  for (const count of [1, 37, 70_001]) {
    it(`count=${count}`, async () => {
      const x = randoms(count, count, 5);
      const yv = randoms(count, count + 1, 5);
      const got = await noGpuErrors(device, async () => {
        const xb = upload(x);
        addInPlace(device, { x: xb, y: upload(yv), count });
        return readFloats(device, xb, count);
      });
      // one f32 rounding of the exact sum: bit-exact
      expect(got).toEqual(Float32Array.from(x, (v, i) => v + yv[i]!));
    });
  }
  it('rejects a bad argument', () => {
    const x = upload(randoms(4, 1));
    expect(() => addInPlace(device, { x, y: upload(randoms(4, 2)), count: 1.5 })).toThrow(/count/);
    expect(() => addInPlace(device, { x, y: upload(randoms(3, 2)), count: 4 })).toThrow(/y has/);
    expect(() => addInPlace(device, { x, y: x, count: 4 })).toThrow(RangeError);
    const uniform = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM });
    expect(() => addInPlace(device, { x, y: uniform, count: 4 })).toThrow(/y is not a STORAGE buffer/);
  });
});

describe('siluMul', () => {
  it('random and extreme gates', async () => {
    const extremes = [0, -0, 1, -1, 20, -20, 87, -87, -88, -88.5, -100, -1000, -1e38, 100, 1000, 1e38];
    const count = 4999;
    const gate = randoms(count, 11, 8);
    gate.set(extremes);
    const up = randoms(count, 12, 3);
    const ref = Array.from(gate, (g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
    const got = await noGpuErrors(device, async () => {
      const out = createStorage(device, count * 4);
      siluMul(device, { gate: upload(gate), up: upload(up), out, count });
      return readFloats(device, out, count);
    });
    expect(got.every(Number.isFinite)).toBe(true);
    expect(worstRatio(got, ref, (i) => 1e-5 * Math.abs(ref[i]!) + 1e-30)).toBeLessThanOrEqual(1);
    for (const i of [9, 10, 11, 12]) expect(Math.abs(got[i]!)).toBeLessThan(1e-30); // gate ≤ −88.5: ≈ 0, not NaN
  });
  it('rejects a bad argument', () => {
    const b = () => upload(randoms(4, 3));
    expect(() => siluMul(device, { gate: b(), up: b(), out: b(), count: 0 })).toThrow(/count/);
    expect(() => siluMul(device, { gate: b(), up: b(), out: createStorage(device, 8), count: 4 })).toThrow(/out/);
  });
});

describe('siluMulRows (gate and up as one matmul: rows of [gate | up])', () => {
  it.each([
    [1, 1],
    [1, 4864],
    [7, 67],
  ])('%i rows of width %i: what siluMul gives on the halves, bit for bit', async (rows, width) => {
    const gateUp = randoms(rows * 2 * width, 21, 8);
    const gate = new Float32Array(rows * width);
    const up = new Float32Array(rows * width);
    for (let r = 0; r < rows; r++) {
      gate.set(gateUp.subarray(r * 2 * width, r * 2 * width + width), r * width);
      up.set(gateUp.subarray(r * 2 * width + width, (r + 1) * 2 * width), r * width);
    }
    const [fused, apart] = await noGpuErrors(device, async () => {
      const a = createStorage(device, rows * width * 4);
      const b = createStorage(device, rows * width * 4);
      siluMulRows(device, { gateUp: upload(gateUp), out: a, rows, width });
      siluMul(device, { gate: upload(gate), up: upload(up), out: b, count: rows * width });
      return [await readFloats(device, a, rows * width), await readFloats(device, b, rows * width)];
    });
    expect(Array.from(fused)).toEqual(Array.from(apart));
    const ref = Array.from(gate, (g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
    expect(worstRatio(fused, ref, (i) => 1e-5 * Math.abs(ref[i]!) + 1e-30)).toBeLessThanOrEqual(1);
  });
  it('rejects a bad argument', () => {
    const b = upload(randoms(8, 3));
    expect(() => siluMulRows(device, { gateUp: b, out: createStorage(device, 16), rows: 0, width: 4 })).toThrow(/rows/);
    expect(() => siluMulRows(device, { gateUp: b, out: createStorage(device, 16), rows: 2, width: 4 })).toThrow(
      /gateUp/,
    );
    expect(() => siluMulRows(device, { gateUp: b, out: b, rows: 1, width: 4 })).toThrow(RangeError);
  });
});

/** HF rope tables: angle p · base^(−2j/headDim), rounded to f32 as the CPU side would upload them. */
function ropeTables(positions: number, headDim: number): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let p = 0; p < positions; p++) {
    for (let j = 0; j < half; j++) {
      const angle = p * 1_000_000 ** (-(2 * j) / headDim);
      cos[p * half + j] = Math.cos(angle);
      sin[p * half + j] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

describe('rope', () => {
  const cases = [
    { tokens: 1, heads: 1, headDim: 2, position0: 0, positions: 1 },
    { tokens: 1, heads: 14, headDim: 64, position0: 4093, positions: 4096 }, // decoding step late in the cache
    { tokens: 7, heads: 3, headDim: 18, position0: 5, positions: 40 },
  ];
  for (const c of cases) {
    it(`tokens=${c.tokens} heads=${c.heads} headDim=${c.headDim} position0=${c.position0}`, async () => {
      const { tokens, heads, headDim, position0, positions } = c;
      const half = headDim / 2;
      const x = randoms(tokens * heads * headDim, tokens + heads + headDim, 4);
      const { cos, sin } = ropeTables(positions, headDim);
      const ref = new Float64Array(x.length);
      const mag = new Float64Array(x.length);
      for (let t = 0; t < tokens; t++) {
        for (let h = 0; h < heads; h++) {
          const base = (t * heads + h) * headDim;
          for (let j = 0; j < half; j++) {
            const cv = cos[(position0 + t) * half + j]!;
            const sv = sin[(position0 + t) * half + j]!;
            const x1 = x[base + j]!;
            const x2 = x[base + j + half]!;
            ref[base + j] = x1 * cv - x2 * sv;
            ref[base + j + half] = x2 * cv + x1 * sv;
            mag[base + j + half] = Math.abs(x2 * cv) + Math.abs(x1 * sv);
            mag[base + j] = Math.abs(x1 * cv) + Math.abs(x2 * sv);
          }
        }
      }
      const got = await noGpuErrors(device, async () => {
        const xb = upload(x);
        rope(device, { x: xb, cos: upload(cos), sin: upload(sin), ...c });
        return readFloats(device, xb, x.length);
      });
      expect(worstRatio(got, ref, (i) => 1e-5 * mag[i]! + 1e-7)).toBeLessThanOrEqual(1);
    });
  }
  it('rejects a bad argument', () => {
    const { cos, sin } = ropeTables(4, 8);
    const args = { x: upload(randoms(16, 1)), cos: upload(cos), sin: upload(sin) };
    const shape = { tokens: 2, heads: 1, headDim: 8, position0: 0, positions: 4 };
    expect(() => rope(device, { ...args, ...shape, position0: 3 })).toThrow(/position0 \+ tokens/);
    expect(() => rope(device, { ...args, ...shape, headDim: 7 })).toThrow(/headDim/);
    expect(() => rope(device, { ...args, ...shape, positions: 5 })).toThrow(/cos has/);
  });
});

describe('gatherRows', () => {
  it('rows by id, zeros for an id out of range', async () => {
    const rows = 50,
      dim = 37;
    const table = randoms(rows * dim, 5);
    const ids = Uint32Array.from([3, 49, 0, 50, 3, 0xffffffff, 17]);
    const count = ids.length;
    const got = await noGpuErrors(device, async () => {
      const out = createStorage(device, count * dim * 4);
      gatherRows(device, { table: upload(table), ids: upload(ids), out, count, dim, rows });
      return readFloats(device, out, count * dim);
    });
    const want = new Float32Array(count * dim);
    ids.forEach((id, t) => {
      if (id < rows) want.set(table.subarray(id * dim, (id + 1) * dim), t * dim);
    });
    expect(got).toEqual(want);
  });
  it('one token', async () => {
    const table = randoms(3 * 5, 9);
    const got = await noGpuErrors(device, async () => {
      const out = createStorage(device, 5 * 4);
      gatherRows(device, { table: upload(table), ids: upload(Uint32Array.of(2)), out, count: 1, dim: 5, rows: 3 });
      return readFloats(device, out, 5);
    });
    expect(got).toEqual(table.subarray(10, 15));
  });
  it('rejects a bad argument', () => {
    const args = { table: upload(randoms(12, 1)), ids: upload(Uint32Array.of(0, 1)), out: createStorage(device, 24) };
    expect(() => gatherRows(device, { ...args, count: 2, dim: 3, rows: 5 })).toThrow(/table has/);
    expect(() => gatherRows(device, { ...args, count: -2, dim: 3, rows: 4 })).toThrow(/count/);
  });
});

describe('argmax', () => {
  async function run(x: Float32Array, count = x.length): Promise<number> {
    return noGpuErrors(device, async () => {
      const out = createStorage(device, 4);
      argmax(device, { x: upload(x), count, out });
      return (await readU32(out, 1))[0]!;
    });
  }
  function cpuArgmax(x: Float32Array, count = x.length): number {
    let best = 0;
    for (let i = 1; i < count; i++) if (x[i]! > x[best]!) best = i;
    return best;
  }
  it('vocabulary-sized, maximum near the end', async () => {
    const count = 151_937;
    const x = randoms(count, 77, 10);
    x[count - 3] = 12.5;
    expect(cpuArgmax(x)).toBe(count - 3);
    expect(await run(x)).toBe(count - 3);
  });
  it('ties go to the smallest index', async () => {
    const count = 151_937;
    const x = randoms(count, 78, 10);
    for (const i of [150_001, 70_000, 65_537, 70_001, 151_936]) x[i] = 11;
    expect(await run(x)).toBe(65_537);
    const flat = new Float32Array(1000).fill(-2); // all equal: index 0
    expect(await run(flat)).toBe(0);
  });
  it('small and odd counts, count < buffer length, −inf', async () => {
    expect(await run(Float32Array.of(-5))).toBe(0);
    expect(await run(Float32Array.of(-Infinity, -Infinity))).toBe(0);
    const x = randoms(1003, 79);
    expect(await run(x)).toBe(cpuArgmax(x));
    x[900] = 5; // beyond count: ignored
    expect(await run(x, 600)).toBe(cpuArgmax(x, 600));
  });
  it('rejects a bad argument', () => {
    const x = upload(randoms(10, 1));
    expect(() => argmax(device, { x, count: 11, out: createStorage(device, 4) })).toThrow(/x has/);
    expect(() => argmax(device, { x, count: 0, out: createStorage(device, 4) })).toThrow(/count/);
  });
});

describe('matvecRows', () => {
  const cases = [
    { rows: 1, dim: 1 },
    { rows: 1, dim: 896 },
    { rows: 7, dim: 67 },
    { rows: 1003, dim: 129 },
  ];
  async function check(rows: number, dim: number): Promise<void> {
    const table = randoms(rows * dim, rows + dim, 0.5);
    const x = randoms(dim, dim, 2);
    const ref = new Float64Array(rows);
    const mag = new Float64Array(rows);
    for (let v = 0; v < rows; v++) {
      for (let d = 0; d < dim; d++) {
        ref[v] = ref[v]! + table[v * dim + d]! * x[d]!;
        mag[v] = mag[v]! + Math.abs(table[v * dim + d]! * x[d]!);
      }
    }
    const got = await noGpuErrors(device, async () => {
      const y = createStorage(device, rows * 4);
      matvecRows(device, { table: upload(table), x: upload(x), y, rows, dim });
      return readFloats(device, y, rows);
    });
    expect(worstRatio(got, ref, (i) => 1e-5 * mag[i]! + 1e-7)).toBeLessThanOrEqual(1);
  }
  for (const { rows, dim } of cases) it(`rows=${rows} dim=${dim}`, () => check(rows, dim));
  it('rejects a bad argument', () => {
    const args = { table: upload(randoms(12, 1)), x: upload(randoms(3, 2)), y: createStorage(device, 16) };
    expect(() => matvecRows(device, { ...args, rows: 4, dim: 4 })).toThrow(/table has/);
    expect(() => matvecRows(device, { ...args, rows: 4, dim: NaN })).toThrow(/dim/);
  });
});

describe('one encoder', () => {
  it('gather → rmsNorm → matvecRows → argmax recorded into a caller encoder, submitted once', async () => {
    const rows = 301,
      dim = 45,
      id = 123;
    const table = randoms(rows * dim, 201);
    const w = randoms(dim, 202, 2);
    // CPU: the row, its RMS norm, the logits and their argmax
    const h = table.subarray(id * dim, (id + 1) * dim);
    const rms = Math.sqrt(h.reduce((acc, v) => acc + v * v, 0) / dim + Math.fround(1e-6));
    const n = Array.from(h, (v, d) => (v / rms) * w[d]!);
    const logits = Array.from({ length: rows }, (_, v) => n.reduce((acc, nd, d) => acc + table[v * dim + d]! * nd, 0));
    const mag = Array.from({ length: rows }, (_, v) =>
      n.reduce((acc, nd, d) => acc + Math.abs(table[v * dim + d]! * nd), 0),
    );
    const best = logits.indexOf(Math.max(...logits));
    const got = await noGpuErrors(device, async () => {
      const tb = upload(table);
      const hidden = createStorage(device, dim * 4);
      const normed = createStorage(device, dim * 4);
      const y = createStorage(device, rows * 4);
      const token = createStorage(device, 4);
      const encoder = device.createCommandEncoder();
      gatherRows(device, { table: tb, ids: upload(Uint32Array.of(id)), out: hidden, count: 1, dim, rows }, encoder);
      rmsNorm(device, { x: hidden, weight: upload(w), y: normed, rows: 1, dim, eps: 1e-6 }, encoder);
      matvecRows(device, { table: tb, x: normed, y, rows, dim }, encoder);
      argmax(device, { x: y, count: rows, out: token }, encoder);
      expect(await readU32(token, 1)).toEqual(Uint32Array.of(0)); // nothing ran before the submit
      device.queue.submit([encoder.finish()]);
      return { y: await readFloats(device, y, rows), token: (await readU32(token, 1))[0] };
    });
    expect(worstRatio(got.y, logits, (i) => 2e-5 * mag[i]! + 1e-6)).toBeLessThanOrEqual(1);
    expect(got.token).toBe(best);
  });
});

describe('pipeline cache', () => {
  it('one pipeline per kernel across shapes', async () => {
    const runAll = (n: number, dim: number) => {
      const f = () => upload(randoms(n * dim, n));
      const out = createStorage(device, n * dim * 4);
      rmsNorm(device, { x: f(), weight: f(), y: out, rows: n, dim, eps: 1e-6 });
      addInPlace(device, { x: out, y: f(), count: n * dim });
      siluMul(device, { gate: f(), up: f(), out, count: n * dim });
      const { cos, sin } = ropeTables(n + 1, 2 * dim);
      const rot = { tokens: n, heads: 1, headDim: 2 * dim, position0: 1, positions: n + 1 };
      rope(device, { x: upload(randoms(n * 2 * dim, 3)), cos: upload(cos), sin: upload(sin), ...rot });
      gatherRows(device, { table: f(), ids: upload(new Uint32Array(n)), out, count: n, dim, rows: n });
      argmax(device, { x: f(), count: n * dim, out: createStorage(device, 4) });
      matvecRows(device, { table: f(), x: f(), y: out, rows: n, dim });
    };
    await noGpuErrors(device, async () => {
      runAll(2, 3);
      const before = pipelineCount(device);
      runAll(5, 70);
      runAll(1, 1);
      expect(pipelineCount(device)).toBe(before);
      await device.queue.onSubmittedWorkDone();
    });
  });
});

/**
 * One ONNX graph with the ops as a model exports them — SimplifiedLayerNormalization (ORT's RMSNorm), Sigmoid·Mul·Mul
 * and ArgMax — so the kernels are compared with onnxruntime-node's CPU evaluation itself, not only with a formula.
 */
function decoderOpsModel(rows: number, dim: number, count: number, eps: number): Uint8Array {
  const info = (name: string, dims: number[], elemType = onnx.TensorProto.DataType.FLOAT): onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  });
  const { FLOAT, INT } = onnx.AttributeProto.AttributeType;
  const model: onnx.IModelProto = {
    irVersion: 8,
    producerName: 'webq-kernels-test',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'decoder-ops',
      node: [
        {
          opType: 'SimplifiedLayerNormalization',
          input: ['X', 'W'],
          output: ['Y'],
          attribute: [
            { name: 'axis', type: INT, i: -1 },
            { name: 'epsilon', type: FLOAT, f: eps },
          ],
        },
        { opType: 'Sigmoid', input: ['G'], output: ['sig'] },
        { opType: 'Mul', input: ['G', 'sig'], output: ['silu'] },
        { opType: 'Mul', input: ['silu', 'U'], output: ['S'] },
        {
          opType: 'ArgMax',
          input: ['A'],
          output: ['I'],
          attribute: [
            { name: 'axis', type: INT, i: 0 },
            { name: 'keepdims', type: INT, i: 0 },
          ],
        },
      ],
      input: [info('X', [rows, dim]), info('W', [dim]), info('G', [count]), info('U', [count]), info('A', [count])],
      output: [info('Y', [rows, dim]), info('S', [count]), info('I', [], onnx.TensorProto.DataType.INT64)],
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

describe('agreement with onnxruntime-node (CPU EP)', () => {
  it('rmsNorm, siluMul and argmax', async () => {
    const rows = 3,
      dim = 131,
      count = 20_011,
      eps = 1e-6;
    const x = randoms(rows * dim, 101, 3);
    const w = randoms(dim, 102, 2);
    const gate = randoms(count, 103, 12);
    gate.set([-20, -87, -88, -88.5, -100, -1000, -1e38, 20, 100, 1e38, 0]);
    const up = randoms(count, 104, 3);
    const a = randoms(count, 105);
    a[7] = a[19_000] = a[12_345] = 1.5; // tie: the first wins
    const session = await ort.InferenceSession.create(decoderOpsModel(rows, dim, count, eps));
    const t = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);
    const res = await session.run({
      X: t(x, [rows, dim]),
      W: t(w, [dim]),
      G: t(gate, [count]),
      U: t(up, [count]),
      A: t(a, [count]),
    });
    const ortY = res.Y!.data as Float32Array;
    const ortS = res.S!.data as Float32Array;
    const ortI = Number((res.I!.data as BigInt64Array)[0]);
    expect(ortI).toBe(7);
    const got = await noGpuErrors(device, async () => {
      const y = createStorage(device, rows * dim * 4);
      const s = createStorage(device, count * 4);
      const i = createStorage(device, 4);
      rmsNorm(device, { x: upload(x), weight: upload(w), y, rows, dim, eps });
      siluMul(device, { gate: upload(gate), up: upload(up), out: s, count });
      argmax(device, { x: upload(a), count, out: i });
      return {
        y: await readFloats(device, y, rows * dim),
        s: await readFloats(device, s, count),
        i: await readU32(i, 1),
      };
    });
    expect(got.i[0]).toBe(ortI);
    expect(worstRatio(got.y, ortY, (i) => 1e-5 * Math.abs(ortY[i]!) + 1e-6)).toBeLessThanOrEqual(1);
    // ORT's Sigmoid (MLAS) is an approximation with an absolute error of a few 1e-7 (measured ≤ 2.8e-7 here), and 0
    // already at gate −20, where the kernel still gives g·e^g ≈ −4e−8: bound 5e-7·|gate·up| on top of 1e-5 relative.
    expect(
      worstRatio(got.s, ortS, (i) => 1e-5 * Math.abs(ortS[i]!) + 5e-7 * Math.abs(gate[i]! * up[i]!)),
    ).toBeLessThanOrEqual(1);
  });
});
