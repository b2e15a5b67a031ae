/**
 * The engine's GPU quantizer (extension/host/gpu-quantize.ts) on Dawn/SwiftShader:
 *  - the kernel's workgroupSize changes the grouping only: identical bytes for every shape, limits enforced;
 *  - the two-phase rewrite with GPU-quantized weights gives a model onnxruntime-node runs, with the same scales and
 *    zero points as the CPU rewrite, codes one step apart only at float ties (bounded), and outputs equal to the CPU
 *    rewrite's within a tolerance those ties explain (identical where no code differs);
 *  - the measured choice: rates measured once per adapter and kind of weight, stored, reported; the workgroupSize
 *    option forces the kernels; a GPU-less context and an impossible workgroup are refused with the right errors.
 * It prints the measured rates of both quantizers on this machine (the figures in docs/quantization.md).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { quantize as kernelQuantize, checkQuantizeWorkgroup } from '../../kernels/quantize';
import { downloadQuantized, uploadBytes } from '../../kernels/index';
import { forEachGraph, parseModel, serializeModel } from '../../extension/onnx/model';
import { makePolicy } from '../../extension/onnx/policy';
import { quantizationRequests, rewriteModel, type QuantizationRequest } from '../../extension/onnx/rewrite';
import { quantize as cpuQuantize } from '../../extension/quant/quantize';
import type { QuantizedWeight, QuantizeOptions } from '../../extension/quant/types';
import { prepareModel, prepareModelWith } from '../../extension/host/prepare';
import {
  measureQuantizers,
  quantizeAll,
  quantizeRequests,
  SETTING,
  type QuantizerEnv,
  type SettingsStore,
} from '../../extension/host/gpu-quantize';
import { getDevice, noGpuErrors } from './gpu';
import { randomWeights } from './reference';
import { modelBytes, PPOCR_REC } from '../unit/onnx/models';
import { ort } from '../unit/onnx/ort';
import { textImage } from '../unit/onnx/text-image';
import { tinyTransformer } from '../unit/onnx/graphs';
import { toExternalData } from '../../tools/external-data';

let device: GPUDevice;
beforeAll(async () => {
  device = await getDevice();
});

const memoryStore = (): SettingsStore & { data: Map<string, unknown> } => {
  const data = new Map<string, unknown>();
  return {
    data,
    read: async (k) => data.get(k),
    write: async (k, v) => {
      data.set(k, v);
    },
  };
};
let adapters = 0;
/** A fresh adapter key per env, so the module's in-memory rates of other tests are not reused. */
const envFor = (extra: Partial<QuantizerEnv> = {}): QuantizerEnv => {
  const adapter = `test-adapter-${++adapters}`;
  return { gpu: async () => ({ device, adapter }), settings: memoryStore(), ...extra };
};

describe('quantize kernel: workgroupSize', () => {
  const cases: [number, number, QuantizeOptions][] = [
    [300, 33, { bits: 4, scheme: 'asymmetric', groupSize: 32 }],
    [130, 9, { bits: 2, scheme: 'symmetric', groupSize: 0 }], // scale search
    [50, 7, { bits: 8, scheme: 'asymmetric', groupSize: -1, scaleSearch: true }], // per tensor + reductions
  ];
  for (const [K, N, o] of cases) {
    it(`same bytes for every workgroup shape: ${o.bits}-bit ${o.scheme} group ${o.groupSize}`, async () => {
      const b = randomWeights(K * N, K + N);
      const run = (workgroupSize?: [number, number, number]) =>
        noGpuErrors(device, async () =>
          downloadQuantized(
            device,
            kernelQuantize(device, { weights: uploadBytes(device, b), K, N }, { ...o, workgroupSize }),
          ),
        );
      const base = await run();
      for (const wg of [
        [64, 1, 1],
        [1, 1, 1],
        [256, 1, 1],
        [8, 4, 2],
        [7, 3, 1],
      ] as [number, number, number][]) {
        const q = await run(wg);
        expect(q.data).toEqual(base.data);
        expect(q.scales).toEqual(base.scales);
        expect(q.zeroPoints).toEqual(base.zeroPoints);
      }
    });
  }

  it('refuses a workgroup the device cannot run', () => {
    const l = device.limits;
    expect(() => checkQuantizeWorkgroup(device, [l.maxComputeWorkgroupSizeX * 2, 1, 1])).toThrow(RangeError);
    expect(() => checkQuantizeWorkgroup(device, [l.maxComputeInvocationsPerWorkgroup, 2, 1])).toThrow(
      /exceeds the device limits/,
    );
    expect(() => checkQuantizeWorkgroup(device, [1, 1, l.maxComputeWorkgroupSizeZ + 1])).toThrow(RangeError);
    expect(() => checkQuantizeWorkgroup(device, [0, 1, 1])).toThrow(RangeError);
  });
});

/** Codes of a packed weight, per column. */
function codes(q: QuantizedWeight): Uint8Array {
  const per = 8 / q.bits;
  const out = new Uint8Array(q.data.length * per);
  q.data.forEach((byte, i) => {
    for (let j = 0; j < per; j++) out[i * per + j] = (byte >> (j * q.bits)) & ((1 << q.bits) - 1);
  });
  return out;
}

/** GPU vs CPU weights of one request: scales and zero points equal, codes one step apart at ties only. */
function compareWeights(r: QuantizationRequest, gpu: QuantizedWeight, cpu: QuantizedWeight): number {
  expect(gpu.blockSize).toBe(cpu.blockSize);
  const search = r.options.scaleSearch ?? r.options.bits === 2;
  if (!search) {
    expect(Array.from(gpu.scales)).toEqual(Array.from(cpu.scales));
    expect(gpu.zeroPoints && Array.from(gpu.zeroPoints)).toEqual(cpu.zeroPoints && Array.from(cpu.zeroPoints));
  }
  const g = codes(gpu),
    c = codes(cpu);
  let diffs = 0;
  for (let i = 0; i < g.length; i++) if (g[i] !== c[i]) diffs++;
  if (!search) {
    for (let i = 0; i < g.length; i++) if (g[i] !== c[i]) expect(Math.abs(g[i]! - c[i]!)).toBe(1);
    expect(diffs).toBeLessThanOrEqual(Math.max(1, (r.K * r.N) / 1000));
  }
  return diffs;
}

/** Two-phase rewrite with GPU weights and the one-phase CPU rewrite of the same model. */
async function bothRewrites(source: Uint8Array, overrides: Parameters<typeof makePolicy>[0]) {
  const policy = makePolicy(overrides);
  const model = parseModel(source);
  const requests = quantizationRequests(model, policy);
  const { done, fallbacks } = await noGpuErrors(device, () => quantizeAll(device, requests, [64, 1, 1]));
  expect(fallbacks).toEqual([]);
  expect(done.size).toBe(requests.length);
  let diffs = 0;
  for (const r of requests) diffs += compareWeights(r, done.get(r.key)!, cpuQuantize(r.values(), r.K, r.N, r.options));
  const gpuResult = rewriteModel(model, policy, { quantized: done });
  const cpu = prepareModel(source, policy);
  return {
    gpu: serializeModel(model),
    cpu: cpu.bytes,
    gpuReport: gpuResult.report,
    cpuReport: cpu.report,
    requests,
    diffs,
  };
}

async function runOrt(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all' });
  try {
    const out = await session.run(feeds);
    return out[session.outputNames[0]!]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

function maxAbs(a: Float32Array, b: Float32Array): { diff: number; range: number } {
  let diff = 0,
    range = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    range = Math.max(range, Math.abs(b[i]!));
  }
  return { diff, range };
}

describe('two-phase rewrite with GPU-quantized weights runs in onnxruntime-node like the CPU rewrite', () => {
  const ocrFeeds = () => {
    const img = textImage('HOLD 1024', 8 + 9 * 24 + 16);
    return { x: new ort.Tensor('float32', img.data, img.dims) };
  };
  const tinyFeeds = () => ({ x: new ort.Tensor('float32', randomWeights(4 * 32, 3), [1, 4, 32]) });
  const cases: [string, () => Uint8Array, Parameters<typeof makePolicy>[0], () => Record<string, ort.Tensor>][] = [
    ['PP-OCRv4 rec, 4-bit symmetric group 32', () => modelBytes(PPOCR_REC), { bits: 4, groupSize: 32 }, ocrFeeds],
    [
      'PP-OCRv4 rec, 8-bit asymmetric per channel',
      () => modelBytes(PPOCR_REC),
      { bits: 8, scheme: 'asymmetric', groupSize: 0 },
      ocrFeeds,
    ],
    [
      'PP-OCRv4 rec, 2-bit asymmetric group 16 (scale search)',
      () => modelBytes(PPOCR_REC),
      { bits: 2, scheme: 'asymmetric', groupSize: 16 },
      ocrFeeds,
    ],
    [
      'tiny transformer, 4-bit mixed precision per tensor',
      () => serializeModel(tinyTransformer()),
      { bits: 4, groupSize: -1, mixedPrecision: true },
      tinyFeeds,
    ],
  ];
  for (const [label, source, overrides, feeds] of cases) {
    it(label, async () => {
      const r = await bothRewrites(source(), overrides);
      expect(r.requests.length).toBeGreaterThan(0);
      expect(r.gpuReport.modelBytes).toBe(r.cpuReport.modelBytes);
      expect(r.gpuReport.weights.map((w) => [w.name, w.precision])).toEqual(
        r.cpuReport.weights.map((w) => [w.name, w.precision]),
      );
      const y = await runOrt(r.gpu, feeds());
      const yCpu = await runOrt(r.cpu, feeds());
      const { diff, range } = maxAbs(y, yCpu);
      console.log(
        `${label}: ${r.diffs} codes differ (ties), max |Δy| = ${diff.toExponential(2)} of range ${range.toExponential(2)}`,
      );
      if (r.diffs === 0) expect(diff).toBe(0); // same bytes, same outputs
      // A tie moves one weight by one step (|scale|) whichever way it goes; through the network that stays far below
      // the quantization error itself. The search may pick another candidate of equal error (float sums), so larger.
      expect(diff).toBeLessThanOrEqual((overrides?.bits === 2 ? 0.05 : 2e-3) * range);
    });
  }
});

describe('measured choice and the workgroupSize option', () => {
  const requestsOf = (bits: 2 | 4 | 8) =>
    quantizationRequests(parseModel(serializeModel(tinyTransformer())), makePolicy({ bits, groupSize: 16 }));

  it('measures both quantizers once per adapter and kind of weight, stores the rates, and says what it chose', async () => {
    const env = envFor();
    const first = await quantizeRequests(requestsOf(4), env);
    const choice = first.notes[0]!;
    expect(choice).toMatch(
      /^quantizer: (GPU kernels \(measured [\d.]+× the CPU quantizer's rate on this adapter: [\d.]+ vs [\d.]+ Mparam\/s, 4-bit symmetric, 768×768\)|CPU \(the GPU kernels measured [\d.]+× its rate here: [\d.]+ vs [\d.]+ Mparam\/s, 4-bit symmetric, 768×768\))$/,
    );
    const stored = (await env.settings!.read(SETTING)) as Record<string, Record<string, { gpu: number; cpu: number }>>;
    const rates = Object.values(stored)[0]!['4-bit symmetric']!;
    expect(rates.gpu).toBeGreaterThan(0);
    expect(rates.cpu).toBeGreaterThan(0);
    if (rates.gpu > rates.cpu) {
      expect(first.quantized.size).toBe(requestsOf(4).length);
      expect(first.notes[1]).toMatch(
        /^quantizer: 6 of 6 weights \([\d.]+ M parameters\) quantized on the GPU in \d+ ms$/,
      );
    } else {
      expect(first.quantized.size).toBe(0);
    }
    // Second load: the same decision without measuring again (same note, same rates).
    const again = await quantizeRequests(requestsOf(4), env);
    expect(again.notes[0]).toBe(choice);
  });

  it('a stored measurement decides without measuring (a fresh context reading the settings store)', async () => {
    const settings = memoryStore();
    settings.data.set(SETTING, { 'stored-adapter': { '8-bit symmetric': { gpu: 30, cpu: 10, measuredAt: 'x' } } });
    const gpuWins = await quantizeRequests(requestsOf(8), {
      gpu: async () => ({ device, adapter: 'stored-adapter' }),
      settings,
    });
    expect(gpuWins.notes[0]).toBe(
      "quantizer: GPU kernels (measured 3.0× the CPU quantizer's rate on this adapter: 30.0 vs 10.0 Mparam/s, 8-bit symmetric, 768×768)",
    );
    expect(gpuWins.quantized.size).toBe(6);
    settings.data.set(SETTING, { 'slow-adapter': { '8-bit symmetric': { gpu: 6, cpu: 10, measuredAt: 'x' } } });
    const cpuWins = await quantizeRequests(requestsOf(8), {
      gpu: async () => ({ device, adapter: 'slow-adapter' }),
      settings,
    });
    expect(cpuWins.notes).toEqual([
      'quantizer: CPU (the GPU kernels measured 0.60× its rate here: 6.00 vs 10.0 Mparam/s, 8-bit symmetric, 768×768)',
    ]);
    expect(cpuWins.quantized.size).toBe(0);
  });

  it('workgroupSize uses the kernels whatever was measured, and says so', async () => {
    const settings = memoryStore();
    settings.data.set(SETTING, { 'slow-adapter-2': { '4-bit symmetric': { gpu: 1, cpu: 10, measuredAt: 'x' } } });
    const r = await quantizeRequests(requestsOf(4), {
      gpu: async () => ({ device, adapter: 'slow-adapter-2' }),
      settings,
      workgroupSize: [32, 2, 1],
    });
    expect(r.notes[0]).toBe(
      'quantizer: GPU kernels with workgroupSize [32, 2, 1] (the workgroupSize option; not measured against the CPU quantizer)',
    );
    expect(r.quantized.size).toBe(6);
  });

  it('workgroupSize errors: beyond the device → DataError; no GPU → NotSupportedError; nothing quantized → DataError', async () => {
    const tooBig = await quantizeRequests(
      requestsOf(4),
      envFor({ workgroupSize: [device.limits.maxComputeInvocationsPerWorkgroup * 2, 1, 1] }),
    ).catch((e) => e);
    expect(tooBig.name).toBe('DataError');
    expect(tooBig.message).toMatch(/^option workgroupSize: .*exceeds the device limits/);
    const noGpu = await quantizeRequests(requestsOf(4), {
      gpu: async () => ({ unavailable: 'navigator.gpu is absent' }),
      workgroupSize: [64, 1, 1],
    }).catch((e) => e);
    expect(noGpu.name).toBe('NotSupportedError');
    expect(noGpu.message).toMatch(/workgroupSize.*navigator.gpu is absent/);
    const tiny = serializeModel(tinyTransformer());
    const at16 = await prepareModelWith(tiny, makePolicy({ bits: 16 }), envFor({ workgroupSize: [64, 1, 1] })).catch(
      (e) => e,
    );
    expect(at16.name).toBe('DataError');
    const unquantized = await prepareModelWith(tiny, null, envFor({ workgroupSize: [64, 1, 1] })).catch((e) => e);
    expect(unquantized.message).toMatch(/workgroupSize applies when weights are quantized/);
  });

  it('without a GPU and without workgroupSize: the CPU, with the reason in the notes', async () => {
    const r = await quantizeRequests(requestsOf(4), {
      gpu: async () => ({
        unavailable: 'WebGPU is not available in the preparation worker: navigator.gpu is absent in this context',
      }),
    });
    expect(r.notes).toEqual([
      'quantizer: CPU (WebGPU is not available in the preparation worker: navigator.gpu is absent in this context)',
    ]);
  });

  it('a weight too large for one storage binding is left to the CPU, with a note', async () => {
    const huge: QuantizationRequest = {
      key: 'huge',
      name: 'huge',
      op: 'MatMul',
      K: 65536,
      N: 65536,
      options: { bits: 4, scheme: 'symmetric', groupSize: 32 },
      values: () => {
        throw new Error('never read');
      },
    };
    const [small] = requestsOf(4);
    const { done, fallbacks } = await quantizeAll(device, [huge, small!], [64, 1, 1]);
    expect([...done.keys()]).toEqual([small!.key]);
    expect(fallbacks[0]).toMatch(
      /^huge \(MatMul\): quantized on the CPU, B\[65536, 65536\] is 16384\.0 MiB of fp32, more than this GPU's largest storage binding/,
    );
  });

  it('kernels that fail on this GPU: the CPU quantizes, with one note (measured choice and forced alike)', async () => {
    // A device whose shader compiler rejects everything (as Firefox's did before the kernels spelled constants as
    // hexadecimal floats): the measurement fails, so the CPU is chosen; under workgroupSize every batch falls back.
    const broken = new Proxy(device, {
      get(target, p) {
        if (p === 'createShaderModule')
          return () => {
            throw new Error('Shader module creation failed: Parsing error');
          };
        const v = Reflect.get(target, p, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const measured = await quantizeRequests(requestsOf(4), {
      gpu: async () => ({ device: broken, adapter: 'broken-adapter' }),
      settings: memoryStore(),
    });
    expect(measured.notes).toEqual([
      'quantizer: CPU (the GPU kernels failed when measured here: Shader module creation failed: Parsing error)',
    ]);
    expect(measured.quantized.size).toBe(0);
    const forced = await quantizeRequests(requestsOf(4), {
      gpu: async () => ({ device: broken, adapter: 'broken-adapter' }),
      workgroupSize: [64, 1, 1],
    });
    expect(forced.notes[1]).toMatch(
      /^quantizer: 0 of 6 weights \(0\.00 M parameters\) quantized on the GPU in \d+ ms$/,
    );
    expect(forced.notes[2]).toBe(
      'quantizer: the GPU kernels failed (Shader module creation failed: Parsing error); 6 weights were quantized on the CPU instead',
    );
    expect(forced.quantized.size).toBe(0);
  });

  it('quantizing from external data read in pieces puts each weight on the GPU as the rewrite reaches it: the same bytes and one tally', async () => {
    const inline = serializeModel(tinyTransformer());
    const { graph, data } = toExternalData(inline);
    expect(data.byteLength).toBeGreaterThan(inline.byteLength / 2); // the weights are in the data file
    const policy = makePolicy({ bits: 4, groupSize: 16 });
    const whole = await prepareModelWith(inline, policy, envFor({ workgroupSize: [64, 1, 1] }));
    let calls = 0;
    const env = envFor({ workgroupSize: [64, 1, 1] });
    const pieces = await prepareModelWith(graph, policy, { ...env, gpu: () => (calls++, env.gpu()) }, [
      { path: 'model.onnx_data', data },
    ]);
    expect(Buffer.from(pieces.bytes).equals(Buffer.from(whole.bytes))).toBe(true);
    expect(calls).toBe(1); // one device for the load, however many weights
    const strip = (notes: string[]) => notes.map((n) => n.replace(/in \d+ ms$/, 'in … ms'));
    expect(strip(pieces.notes)).toEqual(strip(whole.notes));
    expect(pieces.notes[1]).toMatch(/^quantizer: 6 of 6 weights/);
  });

  it('prepareModelWith under workgroupSize: GPU bytes in a model ORT runs, notes first', async () => {
    const source = serializeModel(tinyTransformer());
    const prepared = await prepareModelWith(
      source,
      makePolicy({ bits: 4, groupSize: 16 }),
      envFor({ workgroupSize: [64, 1, 1] }),
    );
    expect(prepared.notes[0]).toMatch(/^quantizer: GPU kernels with workgroupSize \[64, 1, 1\]/);
    expect(prepared.notes[1]).toMatch(/^quantizer: 6 of 6 weights/);
    let ops = 0;
    forEachGraph(parseModel(prepared.bytes).graph!, (g) => {
      for (const n of g.node ?? []) if (n.opType === 'MatMulNBits') ops++;
    });
    expect(ops).toBe(6);
    const y = await runOrt(prepared.bytes, { x: new ort.Tensor('float32', randomWeights(4 * 32, 3), [1, 4, 32]) });
    expect(y.every(Number.isFinite)).toBe(true);
  });

  it('prints the measured rates of both quantizers on this adapter (docs/quantization.md)', async () => {
    const rows: string[] = [
      '| bits | scheme | search | GPU Mparam/s | CPU Mparam/s | GPU/CPU |',
      '|---|---|---|---|---|---|',
    ];
    for (const [bits, scheme] of [
      [2, 'symmetric'],
      [4, 'symmetric'],
      [4, 'asymmetric'],
      [8, 'symmetric'],
    ] as const) {
      const o: QuantizeOptions = { bits, scheme, groupSize: 32 };
      const r = await measureQuantizers(device, o);
      rows.push(
        `| ${bits} | ${scheme} | ${bits === 2 ? 'yes' : 'no'} | ${r.gpu.toFixed(1)} | ${r.cpu.toFixed(1)} | ${(r.gpu / r.cpu).toFixed(2)} |`,
      );
    }
    console.log(`768×768, group 32, Dawn for Node on SwiftShader:\n${rows.join('\n')}`);
  });
});
