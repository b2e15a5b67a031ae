/**
 * Per-browser optimisation profiles (SPEC §6) as data. The engine picks one from the detected browser and GPU;
 * its backend order drives `backend: 'auto'`. Emulated GPUs (SwiftShader, lavapipe) run WebGPU on the CPU,
 * slower than wasm, so `auto` puts WebGPU last there and says so in `fallbacks`.
 */
import type { Profile } from '../shared/types';
import type { BrowserInfo } from './browser-info';

/**
 * The seed's per-model-type advice, as data: text 4-bit with mixed precision, vision 8-bit with mixed precision
 * and shaders compiled at load, audio 4-bit. Browsers that differ override a modality below.
 */
const SEED_MODALITIES = (workgroupSize: [number, number, number]): Profile['modalities'] => ({
  text: { bits: 4, mixedPrecision: true, shaderPrecompilation: false, workgroupSize: [...workgroupSize] },
  vision: { bits: 8, mixedPrecision: true, shaderPrecompilation: true, workgroupSize: [...workgroupSize] },
  audio: { bits: 4, mixedPrecision: false, shaderPrecompilation: false, workgroupSize: [...workgroupSize] },
});
/** Every modality at 8 bits: WebNN's smallest width (Edge) and the seed's compatibility advice (Safari, unknown). */
const EIGHT_BIT = (workgroupSize: [number, number, number]): Profile['modalities'] => {
  const seed = SEED_MODALITIES(workgroupSize);
  return { text: { ...seed.text, bits: 8 }, vision: seed.vision, audio: { ...seed.audio, bits: 8 } };
};

export const PROFILES: Readonly<Record<string, Profile>> = Object.freeze({
  chrome: {
    name: 'chrome-webgpu',
    backendOrder: ['webgpu', 'webnn', 'wasm'],
    bits: 4,
    scheme: 'symmetric',
    groupSize: 128,
    mixedPrecision: true,
    workgroupSize: [128, 1, 1],
    useShaderF16: true,
    useSubgroups: true,
    modalities: SEED_MODALITIES([128, 1, 1]),
  },
  edge: {
    name: 'edge-webnn',
    backendOrder: ['webnn', 'webgpu', 'wasm'],
    bits: 8,
    scheme: 'symmetric',
    groupSize: 128,
    mixedPrecision: true,
    workgroupSize: [128, 1, 1],
    useShaderF16: true,
    useSubgroups: true,
    modalities: EIGHT_BIT([128, 1, 1]),
  },
  firefox: {
    name: 'firefox-webgpu',
    backendOrder: ['webgpu', 'wasm'],
    bits: 4,
    scheme: 'symmetric',
    groupSize: 128,
    mixedPrecision: true,
    workgroupSize: [64, 1, 1],
    useShaderF16: false,
    useSubgroups: false,
    // The seed's Firefox advice for audio: compute workgroups of 256.
    modalities: {
      ...SEED_MODALITIES([64, 1, 1]),
      audio: { bits: 4, mixedPrecision: false, shaderPrecompilation: false, workgroupSize: [256, 1, 1] },
    },
  },
  safari: {
    name: 'safari-8bit',
    backendOrder: ['webgpu', 'wasm'],
    bits: 8,
    scheme: 'symmetric',
    groupSize: 128,
    mixedPrecision: true,
    workgroupSize: [64, 1, 1],
    useShaderF16: false,
    useSubgroups: false,
    modalities: EIGHT_BIT([64, 1, 1]),
  },
  unknown: {
    name: 'generic',
    backendOrder: ['webgpu', 'wasm'],
    bits: 8,
    scheme: 'symmetric',
    groupSize: 128,
    mixedPrecision: true,
    workgroupSize: [64, 1, 1],
    useShaderF16: false,
    useSubgroups: false,
    modalities: EIGHT_BIT([64, 1, 1]),
  },
});

export function chooseProfile(
  browser: BrowserInfo,
  gpu: { emulated: boolean; features: readonly string[] } | null,
): Profile {
  const base = PROFILES[browser.name] ?? PROFILES.unknown!;
  const order = gpu?.emulated
    ? [...base.backendOrder.filter((b) => b !== 'webgpu'), 'webgpu' as const]
    : base.backendOrder;
  return {
    ...base,
    name: `${base.name}${gpu?.emulated ? '+emulated-gpu' : ''}`,
    backendOrder: order,
    useShaderF16: base.useShaderF16 && Boolean(gpu?.features.includes('shader-f16')),
    useSubgroups: base.useSubgroups && Boolean(gpu?.features.includes('subgroups')),
  };
}

/** Settings key (cache.ts readSetting) of the options page's default-profile override: a PROFILES key, or absent. */
export const PROFILE_OVERRIDE_SETTING = 'profileOverride';

export function isProfileKey(value: unknown): value is BrowserInfo['name'] {
  return typeof value === 'string' && Object.hasOwn(PROFILES, value);
}
