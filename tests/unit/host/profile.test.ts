import { describe, expect, it } from 'vitest';
import { chooseProfile, PROFILES } from '../../../extension/host/profile';

const browser = (name: 'chrome' | 'edge' | 'firefox' | 'safari' | 'unknown') => ({ name, version: '1' }) as never;
const realGpu = { emulated: false, features: ['shader-f16', 'subgroups'] };

describe('profiles (SPEC §6)', () => {
  it('follow the seed: text 4-bit mixed, vision 8-bit precompiled, audio 4-bit; Firefox audio [256,1,1]; Edge/Safari 8-bit', () => {
    const chrome = chooseProfile(browser('chrome'), realGpu);
    expect(chrome.modalities.text).toMatchObject({ bits: 4, mixedPrecision: true });
    expect(chrome.modalities.vision).toMatchObject({ bits: 8, shaderPrecompilation: true });
    expect(chrome.modalities.audio.bits).toBe(4);
    expect(chooseProfile(browser('firefox'), realGpu).modalities.audio.workgroupSize).toEqual([256, 1, 1]);
    for (const b of ['edge', 'safari', 'unknown'] as const) {
      expect(Object.values(chooseProfile(browser(b), realGpu).modalities).map((m) => m.bits)).toEqual([8, 8, 8]);
    }
    expect(chooseProfile(browser('edge'), realGpu).backendOrder[0]).toBe('webnn');
  });

  it('an emulated GPU goes last and is named; features the adapter lacks are off', () => {
    const p = chooseProfile(browser('chrome'), { emulated: true, features: [] });
    expect(p.backendOrder.at(-1)).toBe('webgpu');
    expect(p.name).toBe('chrome-webgpu+emulated-gpu');
    expect(p.useShaderF16).toBe(false);
    expect(p.useSubgroups).toBe(false);
    expect(chooseProfile(browser('chrome'), null).backendOrder[0]).toBe('webgpu'); // no GPU: auto skips it at load time
  });

  it('carries workgroup size and feature use as SPEC §6 data, and no calibration', () => {
    const firefox = chooseProfile(browser('firefox'), realGpu);
    expect(firefox.workgroupSize).toEqual([64, 1, 1]);
    expect(firefox.useShaderF16).toBe(false); // the Firefox profile does not ask for it, whatever the adapter has
    const chrome = chooseProfile(browser('chrome'), realGpu);
    expect([chrome.useShaderF16, chrome.useSubgroups]).toEqual([true, true]);
    expect(chrome).not.toHaveProperty('calibration');
    expect(chrome.name).toBe('chrome-webgpu');
  });

  it('built-in profiles are not changed by choosing one', () => {
    const before = JSON.stringify(PROFILES);
    chooseProfile(browser('chrome'), { emulated: true, features: [] });
    expect(JSON.stringify(PROFILES)).toBe(before);
  });
});
