/** Planning a load (extension/host/plan.ts) with a device probe written here: every rule without a browser. */
import { describe, expect, it } from 'vitest';
import { chooseProfile } from '../../../extension/host/profile';
import { planLoad, variantOf, graphKey, graphPlan, type DeviceProbe } from '../../../extension/host/plan';
import { resolveModel } from '../../../extension/host/resolve';
import { normalizeOptions } from '../../../extension/shared/options';
import type { ConcreteBackend } from '../../../extension/shared/types';

const chrome = chooseProfile({ name: 'chrome', version: '1' } as never, { emulated: false, features: [] });
const emulatedChrome = chooseProfile({ name: 'chrome', version: '1' } as never, { emulated: true, features: [] });
const PAGE = { requester: { origin: 'https://site.example', page: true }, partition: 'https://site.example' };

/** A device with the given backends, WebNN's smallest width 8 bits. */
const device = (...present: ConcreteBackend[]): DeviceProbe => ({
  unavailable: async (b) => (present.includes(b) ? null : `${b} is absent here`),
  webnnMinBits: async () => 8,
});

async function plan(
  ref: string,
  options: Record<string, unknown> = {},
  probe = device('webgpu', 'webnn', 'wasm'),
  profile = chrome,
) {
  const fallbacks: string[] = [];
  const resolved = await resolveModel(ref, PAGE);
  const p = await planLoad(
    resolved,
    normalizeOptions(options, 'run'),
    profile,
    profile === emulatedChrome,
    probe,
    fallbacks,
  );
  return { plan: p, fallbacks };
}

describe('planLoad', () => {
  it("a raw URL runs as stored unless the options quantize; a registry id at its profile's precision, said in fallbacks", async () => {
    expect((await plan('https://cdn.example/m.onnx')).plan).toMatchObject({
      policy: null,
      variant: 'src',
      target: { backend: 'webgpu' },
    });
    const bert = await plan('bert-base-uncased');
    expect(bert.plan.policy).toMatchObject({ bits: 4, mixedPrecision: true, groupSize: 128 });
    expect(bert.fallbacks).toContain('profile chrome-webgpu: text models at 4-bit with mixed precision');
    const vit = await plan('vit-base-patch16-224');
    expect(vit.plan).toMatchObject({ shaderPrecompilation: true, policy: { bits: 8 } });
    expect(
      (await plan('https://cdn.example/m.onnx', { bits: 4, scheme: 'asymmetric', groupSize: 32 })).plan.variant,
    ).toBe('q4a32');
  });

  it("auto takes the profile's order: an emulated GPU goes after wasm, and every skipped backend is explained", async () => {
    expect(
      (await plan('https://cdn.example/m.onnx', {}, device('webgpu', 'wasm'), emulatedChrome)).plan.target.backend,
    ).toBe('wasm');
    const noGpu = await plan('https://cdn.example/m.onnx', {}, device('wasm'));
    expect(noGpu.plan.target).toEqual({ backend: 'wasm' });
    expect(noGpu.fallbacks).toEqual(['webgpu: webgpu is absent here', 'webnn: webnn is absent here']);
  });

  it('an asked-for backend that is absent is NotSupportedError; WebNN below its smallest width is raised and said', async () => {
    await expect(plan('https://cdn.example/m.onnx', { backend: 'webnn' }, device('wasm'))).rejects.toMatchObject({
      name: 'NotSupportedError',
    });
    const webnn = await plan('https://cdn.example/m.onnx', { backend: 'webnn', bits: 4 });
    expect(webnn.plan).toMatchObject({
      target: { backend: 'webnn', webnnDevice: 'gpu' },
      policy: { bits: 8, quantizeEmbeddingTables: false, dequantizeLinear: false },
      variant: 'q8s128ed',
    });
    expect(webnn.fallbacks).toContain('webnn: 4-bit unsupported, used 8-bit');
    // Conv weights and other matrices take their DequantizeLinear form everywhere else.
    expect((await plan('https://cdn.example/m.onnx', { backend: 'wasm', bits: 8 })).plan.policy).toMatchObject({
      dequantizeLinear: true,
    });
  });

  it('options that would have no effect are refused, naming the option', async () => {
    for (const [options, name] of [
      [{ scheme: 'asymmetric' }, 'scheme'],
      [{ bits: 4, attentionPrecision: 8 }, 'attentionPrecision'],
      [{ topK: 3 }, 'topK'],
      [{ backend: 'wasm', devicePreference: 'npu' }, 'devicePreference'],
    ] as const) {
      await expect(plan('https://cdn.example/m.onnx', options)).rejects.toMatchObject({
        name: 'DataError',
        message: expect.stringContaining(name),
      });
    }
    await expect(plan('bert-base-uncased', { topK: 3 })).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringMatching(/topK.*normalize/),
    });
    expect((await plan('bert-base-uncased', { scheme: 'asymmetric' })).plan.variant).toMatch(/^q4a/); // the profile quantizes
  });
});

describe('engine (text generation on webq’s own decode engine or onnxruntime)', () => {
  it('a decoder graph on WebGPU is planned for the native engine unless engine is ort, under its own key', async () => {
    const resolved = await resolveModel('qwen2.5-0.5b-instruct', PAGE);
    if (resolved.kind !== 'task') throw new Error('a registry id resolves to a task');
    const url = new URL('https://cdn.example/model.onnx');
    const auto = graphPlan((await plan('qwen2.5-0.5b-instruct')).plan, resolved.pipeline, 'model');
    expect(auto).toMatchObject({ native: true, nextToken: true });
    const ort = graphPlan((await plan('qwen2.5-0.5b-instruct', { engine: 'ort' })).plan, resolved.pipeline, 'model');
    expect(ort.native).toBeUndefined();
    expect(graphKey('', url, auto)).not.toBe(graphKey('', url, ort));
    // A graph of another task never is, nor a decoder on wasm.
    const bert = await resolveModel('bert-base-uncased', PAGE);
    if (bert.kind !== 'task') throw new Error('a registry id resolves to a task');
    expect(graphPlan((await plan('bert-base-uncased')).plan, bert.pipeline, 'model').native).toBeUndefined();
    const wasm = await plan('qwen2.5-0.5b-instruct', { backend: 'wasm' });
    expect(graphPlan(wasm.plan, resolved.pipeline, 'model').native).toBeUndefined();
  });

  it("engine 'webq' off WebGPU is NotSupportedError; engine on another task or a bad value is a DataError", async () => {
    await expect(plan('qwen2.5-0.5b-instruct', { engine: 'webq', backend: 'wasm' })).rejects.toMatchObject({
      name: 'NotSupportedError',
      message: expect.stringContaining("engine 'webq'"),
    });
    await expect(plan('bert-base-uncased', { engine: 'webq' })).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringContaining('option engine applies to text-generation'),
    });
    expect(() => normalizeOptions({ engine: 'fast' }, 'load')).toThrow(/engine/);
  });
});

describe('the integer form on wasm', () => {
  it('quantized single-pass models on wasm take it (variant `…i`); fp32, other backends and decoding tasks do not', async () => {
    const raw = await plan('https://cdn.example/m.onnx', { bits: 4, backend: 'wasm' });
    expect(raw.plan).toMatchObject({ integerMatMul: true, variant: 'q4s128ei' });
    for (const id of ['bert-base-uncased', 'vit-base-patch16-224'])
      expect((await plan(id, { backend: 'wasm' })).plan.integerMatMul).toBe(true);
    expect((await plan('https://cdn.example/m.onnx', { backend: 'wasm' })).plan).toMatchObject({ variant: 'src' });
    expect((await plan('https://cdn.example/m.onnx', { backend: 'wasm' })).plan.integerMatMul).toBeUndefined();
    for (const backend of ['webgpu', 'webnn']) {
      const other = await plan('https://cdn.example/m.onnx', { bits: 8, backend });
      expect(other.plan.integerMatMul).toBeUndefined();
      expect(other.plan.variant).not.toMatch(/i$/);
    }
    // Decoders keep MatMulNBits: their tokens are checked against onnxruntime on the graph as quantized.
    for (const id of ['qwen2.5-0.5b-instruct', 'whisper-tiny', 't5-small'])
      expect((await plan(id, { backend: 'wasm' })).plan.integerMatMul).toBeUndefined();
  });
});

describe('keys', () => {
  it('variant names spell the policy; graph keys separate partitions, backends and plans', async () => {
    expect(variantOf(null)).toBe('src');
    const { plan: p } = await plan('https://cdn.example/m.onnx', {
      bits: 8,
      mixedPrecision: true,
      attentionPrecision: 16,
    });
    expect(p.variant).toBe('q8s128m16.8');
    const url = new URL('https://cdn.example/m.onnx');
    expect(graphKey('https://a.example', url, p)).not.toBe(graphKey('https://b.example', url, p));
    expect(graphKey('', url, p)).not.toBe(graphKey('', url, { ...p, target: { backend: 'wasm' } }));
  });
});
