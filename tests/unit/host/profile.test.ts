import { describe, expect, it } from 'vitest';
import { chooseProfile, PROFILES } from '../../../extension/host/profile';
import type { Calibration } from '../../../extension/shared/types';

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

  it('a calibration replaces the kernel shapes, in fresh arrays, and says so in the name', () => {
    const c: Calibration = {
      adapter: 'x',
      measuredAt: '2026-11-26T00:00:00.000Z',
      shape: { bits: 4, K: 768, N: 768, gemmRows: 16 },
      gemv: { best: { workgroupSize: [32, 8, 1], subgroups: true }, ms: 1, candidates: [] },
      gemm: {
        best: { workgroupSize: [16, 4, 1], rowsPerThread: 4, colsPerThread: 4, kTile: 32 },
        ms: 2,
        candidates: [],
      },
    };
    const p = chooseProfile(browser('firefox'), realGpu, c);
    expect(p.name).toBe('firefox-webgpu+calibrated');
    expect(p.workgroupSize).toEqual([32, 8, 1]);
    expect(p.modalities.audio.workgroupSize).toEqual([32, 8, 1]);
    expect(p.calibration).toEqual({ measuredAt: c.measuredAt, gemv: c.gemv.best, gemm: c.gemm.best });
    expect(p.workgroupSize).not.toBe(p.modalities.text.workgroupSize);
    expect(chooseProfile(browser('firefox'), realGpu).calibration).toBeNull();
  });

  it('built-in profiles are not changed by choosing one', () => {
    const before = JSON.stringify(PROFILES);
    chooseProfile(browser('chrome'), { emulated: true, features: [] });
    expect(JSON.stringify(PROFILES)).toBe(before);
  });
});
