/**
 * Per-browser optimisation profiles (SPEC §6) as data. The engine picks one from the detected browser and GPU;
 * its backend order drives `backend: 'auto'`. Emulated GPUs (SwiftShader, lavapipe) run WebGPU on the CPU,
 * slower than wasm, so `auto` puts WebGPU last there and says so in `fallbacks`.
 */
import type { Profile } from '../shared/types';
import type { BrowserInfo } from './browser-info';

export const PROFILES: Readonly<Record<string, Profile>> = Object.freeze({
  chrome: { name: 'chrome-webgpu', backendOrder: ['webgpu', 'webnn', 'wasm'], bits: 4, scheme: 'symmetric', groupSize: 128, mixedPrecision: true, workgroupSize: [128, 1, 1], useShaderF16: true, useSubgroups: true },
  edge: { name: 'edge-webnn', backendOrder: ['webnn', 'webgpu', 'wasm'], bits: 8, scheme: 'symmetric', groupSize: 128, mixedPrecision: true, workgroupSize: [128, 1, 1], useShaderF16: true, useSubgroups: true },
  firefox: { name: 'firefox-webgpu', backendOrder: ['webgpu', 'wasm'], bits: 4, scheme: 'symmetric', groupSize: 128, mixedPrecision: true, workgroupSize: [256, 1, 1], useShaderF16: false, useSubgroups: false },
  safari: { name: 'safari-8bit', backendOrder: ['webgpu', 'wasm'], bits: 8, scheme: 'symmetric', groupSize: 128, mixedPrecision: true, workgroupSize: [64, 1, 1], useShaderF16: false, useSubgroups: false },
  unknown: { name: 'generic', backendOrder: ['webgpu', 'wasm'], bits: 8, scheme: 'symmetric', groupSize: 128, mixedPrecision: true, workgroupSize: [64, 1, 1], useShaderF16: false, useSubgroups: false },
});

export function chooseProfile(browser: BrowserInfo, gpu: { emulated: boolean; features: readonly string[] } | null): Profile {
  const base = PROFILES[browser.name] ?? PROFILES.unknown!;
  const order = gpu?.emulated ? [...base.backendOrder.filter((b) => b !== 'webgpu'), 'webgpu' as const] : base.backendOrder;
  return {
    ...base,
    name: gpu?.emulated ? `${base.name}+emulated-gpu` : base.name,
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
